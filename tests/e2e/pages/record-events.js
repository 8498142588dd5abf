// Registers listeners for every visitor event right after the loader tag (before the engine has
// loaded), so a test sees the events a page load emits, in order, in window.__events.
window.__events = [];
for (const n of ['sessionstarting', 'sessionstart', 'sessioncontinue', 'sessionend', 'leavesession', 'statereceived',
  'error', 'agents', 'connection', 'sessionpaused', 'focus', 'blur']) {
  window.GLANCE.Cobrowse.Visitor.addEventListener(n, (e) => window.__events.push([n, JSON.parse(JSON.stringify(e ?? null))]));
}
