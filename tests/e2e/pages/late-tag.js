// The documented way to add the tag dynamically: set every attribute, append, then set src.
window.addEventListener('load', () => {
  setTimeout(() => {
    const s = document.createElement('script');
    s.id = 'glance-cobrowse';
    s.setAttribute('data-groupid', '1234');
    s.setAttribute('data-site', 'staging');
    document.head.appendChild(s);
    s.src = '/cobrowse/GlanceCobrowseLoader.js';
  }, 100);
});
