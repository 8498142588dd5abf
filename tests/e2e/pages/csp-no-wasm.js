// Page script of csp-no-wasm.html (inline scripts are blocked by its CSP): records engine errors
// and keeps a working button, to show the page is unaffected.
window.__errors = [];
window.GLANCE.Cobrowse.Visitor.addEventListener('error', (e) => window.__errors.push(e));
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('bump').addEventListener('click', () => {
    const c = document.getElementById('count');
    c.textContent = String(Number(c.textContent) + 1);
  });
});
