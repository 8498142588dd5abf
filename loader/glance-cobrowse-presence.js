/* Glance Presence, visitor side (GlanceCobrowsePresence.js): an ES module the loader imports when
 * the page uses GLANCE.Presence.Visitor (data-presence="on" or "api"). Plain JS, no engine.
 * Contract: docs/PROTOCOL.md "Presence" (visitor socket /ws/presence/visitor?groupid=G).
 *
 * `start(ctx)` returns `make(inst, opts)`; the loader's GLANCE.Presence.Visitor facade calls
 * `make` once per instance and forwards every method to the returned handle. Handlers are read
 * from the instance (inst.onconnected, onerror, onsignal, onunique) when they fire; nothing a
 * handler throws escapes.
 *
 * One tab per group is *active* (BroadcastChannel `glance_presence_<group>`): the visible tab that
 * claimed last, or a hidden one when no other tab answers. Only the active tab keeps its socket,
 * sends presence data and acts on signals and invokes; a tab that loses the claim closes its
 * socket (the server keeps the visitor present 5 s, and the new active tab connects at once).
 * Unique connections (connectUnique) belong to their tab and take no part in this. */

const MAX = 16384; // bytes of one message's JSON (PROTOCOL: presence data at most 16 KB)
const ALLOW = ['GLANCE.Cobrowse.VisitorUI.showTerms', 'GLANCE.Cobrowse.Visitor.startSession',
  'GLANCE.Cobrowse.Visitor.stopSession', 'GLANCE.Cobrowse.Visitor.pause'];
const P = 'GLANCE Presence: ';
const BAD_ID = /[ *>]/;

/** Visitor ids: 1-128 chars, no space, `*` or `>`. */
export function validId(id) {
  return typeof id == 'string' && id.length >= 1 && id.length <= 128 && !BAD_ID.test(id);
}

/**
 * {name, platform, version} of the browser from its user agent string, in the product's format
 * (as the agent's `navigate` event has it): `{name: "chrome", platform: "win", version: 80}`.
 */
export function browserInfo(nav) {
  const ua = String((nav && nav.userAgent) || '');
  const pick = (re) => { const m = re.exec(ua); return m ? Number(m[1].split('.')[0]) || 0 : 0; };
  let name = 'unknown';
  let version = 0;
  if ((version = pick(/Edg(?:e|A|iOS)?\/([\d.]+)/))) name = 'edge';
  else if ((version = pick(/OPR\/([\d.]+)/))) name = 'opera';
  else if ((version = pick(/SamsungBrowser\/([\d.]+)/))) name = 'samsung';
  else if ((version = pick(/Firefox\/([\d.]+)/) || pick(/FxiOS\/([\d.]+)/))) name = 'firefox';
  else if ((version = pick(/(?:Chrome|CriOS)\/([\d.]+)/))) name = 'chrome';
  else if (/Safari\//.test(ua) && (version = pick(/Version\/([\d.]+)/))) name = 'safari';
  const platform = /Windows/.test(ua) ? 'win' : /Android/.test(ua) ? 'android' : /iPhone|iPad|iPod/.test(ua) ? 'ios'
    : /Mac OS X|Macintosh/.test(ua) ? 'mac' : /CrOS/.test(ua) ? 'chromeos' : /Linux/.test(ua) ? 'linux' : 'unknown';
  return { name, platform, version };
}

/** Resolves a dotted name inside window.GLANCE by own-property walk; null unless it is an allowed function. */
export function allowed(win, func) {
  if (typeof func != 'string' || !ALLOW.includes(func)) return null;
  let o = win.GLANCE;
  for (const k of func.split('.').slice(1)) {
    if (o == null || (typeof o != 'object' && typeof o != 'function') || !Object.prototype.hasOwnProperty.call(o, k)) return null;
    o = o[k];
  }
  return typeof o == 'function' ? o : null;
}

export function start(ctx) {
  const { win, cfg } = ctx;
  const con = win.console, doc = win.document, group = String(cfg.groupid || '');
  const handles = new Set();
  const tab = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const hidden = () => { try { return doc.visibilityState === 'hidden'; } catch (e) { return false; } };
  let active = false, chan = null, askTimer = null;
  try { if (win.BroadcastChannel) chan = new win.BroadcastChannel('glance_presence_' + group); } catch (e) { chan = null; }
  if (!chan) active = true; // no way to agree with other tabs: every tab acts
  else chan.onmessage = (ev) => {
    try {
      const m = ev.data || {};
      if (m.t === 'claim' && m.tab !== tab) setActive(false);
      else if (m.t === 'ask' && active) chan.postMessage({ t: 'here', tab });
      else if (m.t === 'here' && askTimer) { clearTimeout(askTimer); askTimer = null; }
    } catch (e) { /* */ }
  };
  function claim() {
    if (!chan) return;
    if (askTimer) { clearTimeout(askTimer); askTimer = null; }
    try { chan.postMessage({ t: 'claim', tab }); } catch (e) { /* */ }
    setActive(true);
  }
  // A hidden tab becomes active only when no other tab answers within 300 ms.
  function ask() {
    if (!chan || active || askTimer) return;
    try { chan.postMessage({ t: 'ask', tab }); } catch (e) { /* */ }
    askTimer = setTimeout(() => { askTimer = null; claim(); }, 300);
  }
  function setActive(b) {
    if (active === b) return;
    active = b;
    for (const h of handles) h.tabChanged();
  }
  if (doc.addEventListener) doc.addEventListener('visibilitychange', () => {
    try {
      const v = hidden() ? 'hidden' : 'visible';
      if (v === 'visible' && [...handles].some((h) => h.wanted())) claim();
      for (const h of handles) h.visibility(v);
    } catch (e) { /* */ }
  });

  // The loader's cobrowse events (`sessionstart`, `sessionend`, `error`, `terms`) for the agent.
  ctx.report = (name, data) => { for (const h of handles) h.event(name, data); };

  function make(inst, opts) {
    let visitorid = opts.visitorid == null ? '' : String(opts.visitorid);
    const gid = String(opts.groupid == null ? group : opts.groupid);
    const ws = String(opts.ws || cfg.ws || '');
    const every = Number(opts.presenceinterval) > 0 ? Number(opts.presenceinterval) * 1000 : 60000;
    let sock = null, want = null /* 'id' | 'unique' */, connected = false, retry = 0, retryTimer = null;
    let first = true, data = null, tick = null, pending = [];
    const fire = (n, arg) => {
      const f = inst[n];
      if (typeof f == 'function') try { f.call(inst, arg); } catch (e) { con.error(P + n + ' threw', e); }
    };
    const oops = (error, detail) => fire('onerror', detail === undefined ? { error } : { error, detail });
    const sends = () => want === 'unique' || active;

    function url() {
      const base = /^wss?:\/\//i.test(ws) ? ws.replace(/^(wss?:\/\/[^/]+).*$/i, '$1')
        : ((win.location && win.location.protocol) === 'https:' ? 'wss://' : 'ws://') + ws;
      return base + '/ws/presence/visitor?groupid=' + encodeURIComponent(gid);
    }
    function raw(m) {
      let t;
      try { t = JSON.stringify(m); } catch (e) { oops('invalidprotocol', 'not JSON: ' + (e && e.message)); return false; }
      if (t.length > MAX) { oops('invalidprotocol', 'message over 16 KB not sent'); return false; }
      if (!sock || !connected) return false;
      try { sock.send(t); return true; } catch (e) { return false; }
    }
    function open() {
      close();
      if (!sends()) return;
      let s;
      try { s = new win.WebSocket(url()); } catch (e) { oops('connfail', 'connection'); return later(); }
      sock = s;
      s.onopen = () => {
        if (sock !== s) return;
        try { s.send(JSON.stringify(want === 'unique' ? { t: 'unique' } : { t: 'hello', visitorid })); } catch (e) { /* onclose follows */ }
      };
      s.onmessage = (ev) => { if (sock === s) onMsg(ev.data); };
      s.onclose = (ev) => {
        if (sock !== s) return;
        sock = null; connected = false; stopTick();
        if (ev && ev.code === 1008) { want = null; return; } // refused (after an error message): retrying would not help
        // Replaced by a newer socket of the same visitor (another tab or browser took over): retrying
        // would knock that one off in turn; this tab connects again when it becomes the active one.
        if (ev && ev.code === 4001) return;
        oops('connfail', 'connection');
        later();
      };
      s.onerror = () => { /* onclose reports */ };
    }
    function close() {
      if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
      stopTick();
      const s = sock;
      sock = null; connected = false;
      if (s) try { s.close(1000); } catch (e) { /* */ }
    }
    // Reconnects with a capped backoff (1 s, 2 s, ... 30 s) while wanted and this tab sends.
    function later() {
      if (!want || retryTimer) return;
      const d = Math.min(30000, 1000 * 2 ** Math.min(retry++, 5));
      retryTimer = setTimeout(() => { retryTimer = null; if (want && sends()) open(); }, d);
    }
    function onMsg(text) {
      let m;
      try { m = JSON.parse(text); } catch (e) { return; }
      if (!m || typeof m != 'object') return;
      switch (m.t) {
        case 'welcome':
          connected = true; retry = 0;
          if (m.visitorid) visitorid = String(m.visitorid);
          if (data) sendPresence(true);
          raw({ t: 'visibility', visibility: hidden() ? 'hidden' : 'visible' });
          for (const e of pending.splice(0)) raw(e);
          fire('onconnected');
          break;
        case 'unique':
          connected = true; retry = 0;
          if (m.uniqueid) visitorid = String(m.uniqueid);
          if (data) sendPresence(true);
          for (const e of pending.splice(0)) raw(e);
          fire('onunique', { uniqueid: String(m.uniqueid), expires: m.expires });
          break;
        case 'signal': if (sends()) fire('onsignal', m.data); break;
        case 'invoke': if (sends()) invoke(m); break;
        case 'error':
          oops(String(m.code || 'error'), m.msg === undefined ? undefined : String(m.msg));
          break;
      }
    }
    function invoke(m) {
      const func = typeof m.func == 'string' ? m.func.slice(0, 200) : String(m.func).slice(0, 200);
      const f = allowed(win, m.func);
      const res = { t: 'invokeres', id: m.id, ok: false, func };
      if (!f) {
        con.warn(P + 'invoke of ' + func + ' refused (not in the allow-list)');
        return raw(Object.assign(res, { reason: 'forbidden' }));
      }
      try {
        const owner = func.split('.').slice(1, -1).reduce((o, k) => o[k], win.GLANCE);
        f.call(owner, m.args);
        res.ok = true;
      } catch (e) {
        con.error(P + 'invoke of ' + func + ' failed', e);
        res.reason = 'failed';
      }
      raw(res);
    }
    // Full payload (url, title, browser + all data so far) on the first send of a socket, else `extra`.
    function sendPresence(full, extra) {
      if (!sends() || !connected) return;
      let d = extra;
      if (full || first) {
        d = Object.assign({ url: String(win.location && win.location.href || ''), title: String(doc.title || ''),
          browser: browserInfo(win.navigator) }, data);
        first = false;
      }
      if (raw({ t: 'presence', data: d || {} })) startTick();
    }
    // Every `presenceinterval` seconds the whole payload again (the page's url/title may have changed).
    function startTick() {
      if (tick || !every) return;
      tick = setInterval(() => sendPresence(true), every);
    }
    function stopTick() { if (tick) { clearInterval(tick); tick = null; } }
    function connectAs(w) {
      if (w === 'id' && !validId(visitorid)) {
        oops('invalidprotocol', visitorid ? 'bad visitor id' : 'no visitor id');
        return;
      }
      want = w; retry = 0; first = true;
      if (w === 'unique' || active) open();
      else if (!hidden()) claim(); else ask();
    }

    const h = {
      wanted: () => want === 'id',
      tabChanged() {
        if (want !== 'id') return;
        if (active) { if (!sock) open(); } else close();
      },
      visibility(v) { if (connected && sends()) raw({ t: 'visibility', visibility: v }); },
      event(name, d) {
        if (!want || !sends()) return;
        const e = { t: 'event', name, data: d && typeof d == 'object' ? plain(d) : {} };
        if (connected) { if (sends()) raw(e); } else if (pending.length < 20) pending.push(e);
      },
      presence(p) {
        const d = p && typeof p == 'object' && p.data && typeof p.data == 'object' ? p.data : {};
        let t;
        try { t = JSON.stringify(d); } catch (e) { return oops('invalidprotocol', 'presence data is not JSON'); }
        if (t.length > MAX - 1024) return oops('invalidprotocol', 'presence data over 16 KB not sent');
        data = Object.assign(data || {}, JSON.parse(t));
        if (connected) sendPresence(false, JSON.parse(t));
      },
      connect: () => connectAs('id'),
      connectUnique: () => connectAs('unique'),
      extendUnique() { if (want === 'unique' && connected) raw({ t: 'extend' }); },
      disconnect() { want = null; pending = []; close(); },
      getVisitorId: () => visitorid,
      setVisitorId(id) {
        const v = id == null ? '' : String(id);
        if (!validId(v)) return oops('invalidprotocol', 'bad visitor id');
        visitorid = v;
        if (want === 'id') { close(); connectAs('id'); }
      },
      isconnected: () => connected
    };
    handles.add(h);
    return h;
  }
  return make;
}

// Event payloads as the visitor got them, without functions (accept/decline) and bounded.
function plain(d) {
  try {
    const t = JSON.stringify(d, (k, v) => (typeof v == 'function' ? undefined : v));
    return t && t.length <= 8192 ? JSON.parse(t) : { truncated: true };
  } catch (e) { return {}; }
}
