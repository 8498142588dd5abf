// Adds the cobrowse tag with data-* attributes from this page's query string
// (`tagged.html?cookietype=dual&cookiedomain=example.com`; `groupid` defaults to 1234), the
// documented way (set every attribute, append, then set src), and records every visitor event
// into window.__events from the moment the loader has run (before the engine loads; the latest
// payload of each, functions included, in window.__raw), and every session message into
// window.__messages, and presence signals into window.__signals. Its rcrequested/confirm
// listeners replace the default UI's questions.
(function () {
  const EVENTS = ['sessionstarting', 'sessionstart', 'sessioncontinue', 'sessionend', 'leavesession',
    'statereceived', 'error', 'agents', 'connection', 'sessionpaused', 'focus', 'blur',
    'rcrequested', 'rcaccepted', 'rcdeclined', 'rcenabled', 'rcevent', 'confirm', 'navigation', 'outline',
    'accessibility'];
  const q = new URLSearchParams(location.search);
  window.__events = [];
  window.__messages = [];
  // The latest payload of each event as given (with its accept/decline functions).
  window.__raw = {};
  window.__signals = [];
  const s = document.createElement('script');
  s.id = 'glance-cobrowse';
  s.setAttribute('data-groupid', q.get('groupid') || '1234');
  s.setAttribute('data-site', 'staging');
  for (const [k, v] of q) if (k !== 'groupid' && /^[a-z]+$/.test(k)) s.setAttribute('data-' + k, v);
  s.addEventListener('load', () => {
    const V = window.GLANCE.Cobrowse.Visitor;
    // With data-presence="on", presence signals are recorded into window.__signals.
    const PV = window.GLANCE.Presence && window.GLANCE.Presence.Visitor;
    if (PV && PV.instance) PV.instance.onsignal = (d) => window.__signals.push(d);
    for (const n of EVENTS) {
      V.addEventListener(n, (e) => {
        window.__raw[n] = e;
        window.__events.push([n, JSON.parse(JSON.stringify(e ?? null))]);
      });
    }
  });
  document.head.appendChild(s);
  s.src = '/cobrowse/GlanceCobrowseLoader.js';
})();
