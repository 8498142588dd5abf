/* GLANCE.Cobrowse.InvokeVisitor: for a window other than the visitor's (a chat window) to call
 * GLANCE.Cobrowse.Visitor functions in the visitor's window by postMessage. Shipped as
 * dist/cobrowse/GlanceCobrowseInvokeVisitor.js. Defines only window.GLANCE; never throws.
 *   GLANCE.Cobrowse.InvokeVisitor.init(wnd, groupid, origin);  // origin: the visitor page's origin
 *   GLANCE.Cobrowse.InvokeVisitor.invoke('startSession', { sessionKey: '9999' });
 * The visitor window accepts the message only from an origin trusted by the group (see README).
 * Under Node (no window) it exports { install } instead, for tests. */
(function (W) {
  'use strict';
  const P = 'GLANCE Cobrowse InvokeVisitor: ';

  function install(win) {
    const con = win.console;
    const G = win.GLANCE = win.GLANCE || {};
    const C = G.Cobrowse = G.Cobrowse || {};
    if (C.InvokeVisitor) return C.InvokeVisitor;
    let target = null, gid = null, to = null;
    C.InvokeVisitor = {
      // `origin`: "https://shop.example[:port]", a bare host name (this page's scheme is used), or "*"
      // (documented, but then any page in that window sees the arguments: a warning is logged).
      init(wnd, groupid, origin) {
        try {
          target = null;
          if (!wnd || typeof wnd.postMessage != 'function') return void con.warn(P + 'init: no window');
          if (groupid == null || String(groupid).trim() === '') return void con.warn(P + 'init: groupid missing');
          let o = String(origin == null ? '*' : origin).trim();
          if (o !== '*') {
            if (!/^[a-z][\w+.-]*:\/\//i.test(o)) o = win.location.protocol + '//' + o;
            const u = new URL(o);
            if (!/^https?:$/.test(u.protocol)) return void con.warn(P + 'init: origin must be http(s): ' + origin);
            o = u.origin;
          } else {
            con.warn(P + 'init with origin "*": any page in that window receives the invoke arguments');
          }
          target = wnd; gid = String(groupid).trim(); to = o;
        } catch (e) { con.warn(P + 'init: bad origin ' + String(origin)); }
      },
      invoke(func, args) {
        try {
          if (!target) return void con.warn(P + 'invoke(' + String(func) + ') before a successful init()');
          const m = { func: String(func), groupid: gid };
          if (args !== undefined) m.args = args;
          target.postMessage({ glance_invoke: m }, to);
        } catch (e) { con.warn(P + 'invoke(' + String(func) + ') failed: ' + String(e && e.message || e)); }
      }
    };
    return C.InvokeVisitor;
  }

  if (W && W.document) {
    try { install(W); } catch (e) { /* never break the page */ }
  } else if (typeof module == 'object' && module && module.exports) {
    module.exports = { install };
  }
})(typeof window != 'undefined' ? window : null);
