/* Glance Cobrowse loader: reads the script/meta tag config, exposes GLANCE.Cobrowse.Visitor and
 * loads the wasm engine asynchronously. Classic ES2020 script, no dependencies, defines only
 * window.GLANCE. Under Node (no window) it exports { boot } instead, for tests.
 * Contract: docs/PROTOCOL.md ("Engine <-> loader"). Ships to every page: keep it small. */
(function (W) {
  'use strict';
  const P = 'GLANCE Cobrowse: ';

  function boot(win, importer) {
    const doc = win.document, con = win.console, loc = win.location || {};
    const G = win.GLANCE = win.GLANCE || {};
    const C = G.Cobrowse = G.Cobrowse || {};
    if (C.Loader) {
      // One tag per document: a second tag (or a second copy of the loader) is reported, not loaded.
      const cs = doc.currentScript;
      con.warn(P + 'loaded twice: a second cobrowse tag' + (cs && cs.src ? ' (' + cs.src + ')' : '') +
        ' was ignored; keep one tag per document');
      return C;
    }

    const listeners = Object.create(null), msgListeners = Object.create(null);
    let queue = [], engine = null, failed = null, held = null;
    const err = (m) => con.error(P + m);
    const msg = (e) => String(e && e.message || e);

    // Dispatch to every listener; nothing a listener throws ever escapes (the caller may be the engine).
    // `sessionmessage` {name, data} goes to the session message listeners of that name as (name, data).
    function emit(name, payload) {
      try {
        if (held) return void held.push([name, payload]);
        const m = name === 'sessionmessage' && payload;
        const fs = m ? (msgListeners[m.name] || []).map((f) => () => f(m.name, m.data)) : [];
        for (const f of (listeners[name] || []).slice()) fs.push(() => f(payload));
        for (const f of fs) {
          try { f(); } catch (e) { con.error(P + 'listener for "' + (m ? m.name : name) + '" threw', e); }
        }
      } catch (e) { /* never reach the engine */ }
    }

    // JSON text for the engine ('' when the value has none, e.g. undefined); a cycle becomes an error event.
    function json(what, v) {
      try { const t = JSON.stringify(v); return t === undefined ? '' : t; } catch (e) {
        emit('error', { code: 'badparams', msg: what + ': ' + msg(e) });
        return null;
      }
    }
    const add = (map, n, f) => { const l = map[n] = map[n] || []; if (typeof f == 'function' && !l.includes(f)) l.push(f); };
    const remove = (map, n, f) => { const l = map[n] || [], i = l.indexOf(f); if (i >= 0) l.splice(i, 1); };

    // Every engine call: an exception becomes an `error` event.
    function call(m, args) {
      try { return engine[m](...args); } catch (e) { emit('error', { code: 'service', msg: msg(e) }); }
    }

    // Before the engine is ready calls are queued; after a load failure they are dropped.
    function api(m, ...args) {
      if (engine) call(m, args);
      else if (failed) con.warn(P + m + '() ignored: ' + failed);
      else queue.push([m, args]);
    }

    function storedSession() {
      try { if (/(^|;\s*)glance_ssn_info=[^;\s]/.test(doc.cookie)) return true; } catch (e) { /* */ }
      try { const s = win.localStorage; return !!(s.getItem('glance_ssn_info') || s.getItem('glance_ssn_info_fb')); } catch (e) { return false; }
    }

    const V = C.Visitor = {
      startSession(p) {
        const k = p != null && typeof p == 'object' ? p.sessionKey : p;
        api('startSession', JSON.stringify(k == null || k === '' ? {} : { sessionKey: String(k) }));
      },
      stopSession: () => api('stopSession'),
      pause: (b) => api('pause', b === undefined || !!b),
      inSession: () => engine ? !!call('inSession', []) : !failed && storedSession(),
      getSessionState: () => (engine && call('getSessionState', [])) || null,
      sendSessionMessage(n, m) {
        const t = json('sendSessionMessage("' + n + '")', m);
        if (t !== null) api('sendSessionMessage', String(n), t);
      },
      setUserState(n, v) {
        const t = json('setUserState("' + n + '")', v === undefined ? null : v);
        if (t !== null) api('setUserState', String(n), t);
      },
      getUserState: (n) => (engine ? call('getUserState', [String(n)]) : undefined),
      addEventListener: (n, f) => add(listeners, n, f),
      removeEventListener: (n, f) => remove(listeners, n, f),
      addSessionMessageListener: (n, f) => add(msgListeners, n, f),
      removeSessionMessageListener: (n, f) => remove(msgListeners, n, f)
    };
    const UI = C.VisitorUI = C.VisitorUI || {};
    // Default terms prompt (the browser's confirm dialog); a custom UI may replace VisitorUI.showTerms.
    if (!UI.showTerms) {
      UI.showTerms = (p) => {
        let ok = false;
        try { ok = win.confirm('Share this browser tab with a support agent? They will see this page ' +
          '(never passwords or masked fields) until you end the session.'); } catch (e) { /* no dialogs */ }
        if (ok) V.startSession(p);
      };
    }
    // Actions of data-glancebutton, data-inputevents and (besides Visitor functions) glance_invoke.
    const act = (f, p) => f === 'showTerms' ? UI.showTerms(p) : V[f](p);

    // ---- config: <script id=glance-cobrowse data-*>, or <meta id=glance-cobrowse> + <script id=cobrowsescript> ----
    const cur = doc.currentScript, byId = doc.getElementById('glance-cobrowse');
    const tag = cur && cur.getAttribute && cur.getAttribute('data-groupid') != null ? cur : byId || cur;
    const scr = [cur, doc.getElementById('cobrowsescript'), byId].find((e) => e && e.src);
    const base = doc.baseURI || loc.href;
    let src;
    try { src = new URL(scr ? scr.src : base, base); } catch (e) { src = { host: loc.host || '', origin: '', pathname: '/' }; }
    const a = (n) => {
      const v = String(tag && tag.getAttribute && tag.getAttribute('data-' + n) || '').trim();
      return v || null;
    };

    const cfg = {
      groupid: a('groupid'),
      site: a('site') || 'production',
      ws: a('ws') || src.host,
      scriptserver: (src.origin + src.pathname).replace(/\/[^/]*$/, ''),
      cookietype: (a('cookietype') || 'normal').toLowerCase(),
      cookiedomain: a('cookiedomain'),
      startpaused: /^(1|true)$/.test(a('startpaused')),
      ui: a('ui') === 'custom' ? 'custom' : 'default',
      video: a('video'),
      visitorid: a('visitorid'),
      presence: a('presence'),
      additionalgroupids: (a('additionalgroupids') || '').split(',').map((s) => s.trim()).filter(Boolean),
      inputevents: {},
      // Tuning knob (benchmarks): the snapshot's time-slice budget in ms (default 20).
      slicems: Number(a('slicems')) > 0 ? Number(a('slicems')) : null
    };
    const ss = a('scriptserver');
    if (ss) {
      // A full URL, a root path, or (documented form) a bare server name.
      try { cfg.scriptserver = new URL(/^([a-z][\w+.-]*:|\/)/i.test(ss) ? ss : '//' + ss, base).href.replace(/\/+$/, ''); }
      catch (e) { err('bad data-scriptserver ' + ss); }
    }
    if (!/^(normal|secure|ls|dual)$/.test(cfg.cookietype)) {
      err('bad data-cookietype "' + cfg.cookietype + '", using normal');
      cfg.cookietype = 'normal';
    }
    const ie = a('inputevents');
    if (ie) {
      try {
        const o = JSON.parse(ie);
        if (!o || typeof o != 'object' || Array.isArray(o)) throw 'not an object';
        cfg.inputevents = o;
        for (const k of Object.keys(o)) {
          if (!combo(k) || !ACTIONS.includes(o[k])) {
            con.warn(P + 'data-inputevents entry ' + k + ':' + String(o[k]) + ' ignored (want "ctrl-13": "startSession" | "showTerms" | "stopSession")');
          }
        }
      } catch (e) {
        err('data-inputevents ignored, not JSON (' + msg(e) + '). Use single quotes outside and double quotes ' +
          'inside: data-inputevents=\'{"ctrl-13":"startSession"}\'');
      }
    }

    let ready = Promise.resolve(null);
    let wasmMemory = null;
    if (!cfg.groupid) {
      failed = 'data-groupid missing';
      err('data-groupid missing (script#glance-cobrowse, or meta#glance-cobrowse before script#cobrowsescript)');
    } else {
      ready = load();
      // Documented button attribute: data-glancebutton="startSession|showTerms|stopSession" on any element.
      if (doc.addEventListener) {
        doc.addEventListener('click', (ev) => {
          let f;
          try { f = ev.target.closest('[data-glancebutton]').getAttribute('data-glancebutton'); } catch (e) { return; }
          if (ACTIONS.includes(f)) { try { act(f); } catch (e) { con.error(P + f + ' failed', e); } }
          else con.warn(P + 'data-glancebutton="' + f + '" ignored (want ' + ACTIONS.join(', ') + ')');
        });
        // data-inputevents: {"ctrl-13": "startSession"} -> keydown with exactly those modifiers and keyCode.
        const keys = Object.keys(cfg.inputevents).map((k) => [combo(k), cfg.inputevents[k]]).filter(([c, f]) => c && ACTIONS.includes(f));
        if (keys.length) doc.addEventListener('keydown', (ev) => {
          try {
            const hit = keys.find(([c]) => c.code === ev.keyCode && MODS.every((m) => !!ev[m + 'Key'] === c[m]));
            if (hit) { ev.preventDefault(); act(hit[1]); }
          } catch (e) { con.error(P + 'data-inputevents action failed', e); }
        });
      }
      if (win.addEventListener) win.addEventListener('message', onInvoke);
    }
    // `memory()`: bytes of the engine's wasm memory (0 before it loads), for measurements.
    C.Loader = { config: cfg, ready, memory: () => (wasmMemory ? wasmMemory.buffer.byteLength : 0) };
    return C;

    // Never rejects: resolves to the engine, or to null after a failure.
    async function load() {
      const glue = cfg.scriptserver + '/glance_cobrowse.js', wasm = cfg.scriptserver + '/glance_cobrowse_bg.wasm';
      let what = glue, mod, eng;
      try {
        await 0; // failures are always reported asynchronously, after the page's own scripts ran
        mod = await importer(glue);
        what = wasm;
        const exp = await mod.default({ module_or_path: wasm });
        wasmMemory = exp && exp.memory;
      } catch (e) {
        return fail('could not load ' + what + ': ' + msg(e), { code: 'SCRIPT_NOT_LOADED', msg: msg(e), params: { script: what } });
      }
      // The engine starts once the document is parsed: the page's own scripts have added their
      // listeners by then (a continuing session emits at once), and the first snapshot is whole.
      if (doc.readyState === 'loading') await new Promise((r) => doc.addEventListener('DOMContentLoaded', r, { once: true }));
      try {
        held = []; // events emitted while constructing go out once `engine` is set (listeners may query it)
        eng = new mod.Engine(JSON.stringify(cfg), emit);
      } catch (e) {
        held = null;
        return fail('engine failed: ' + msg(e), { code: 'service', msg: msg(e) });
      }
      engine = eng;
      const h = held, q = queue;
      held = null; queue = [];
      for (const [n, p] of h) emit(n, p);
      for (const [m, args] of q) call(m, args);
      return eng;
    }

    // ---- glance_invoke: postMessage({glance_invoke: {func, args, groupid}}) from another window ----
    // Accepted only from the page's own origin or a trusted origin of the group (server config, read
    // once from GET /api/group/ID/trusted on the session server when the first invoke arrives), only
    // for a function of GLANCE.Cobrowse.Visitor (or showTerms), only with data-groupid or one of
    // data-additionalgroupids. Everything else is ignored with a console warning. Nothing is replied.
    function onInvoke(ev) {
      let m, origin;
      try {
        m = ev.data && typeof ev.data == 'object' ? ev.data.glance_invoke : undefined;
        if (m === undefined) return; // not ours
        origin = String(ev.origin);
      } catch (e) { return; }
      const no = (why) => con.warn(P + 'glance_invoke from ' + origin + ' ignored: ' + why);
      if (!m || typeof m != 'object') return no('not {func, args, groupid}');
      const f = m.func, gid = m.groupid == null ? '' : String(m.groupid);
      if (typeof f != 'string' || !(f === 'showTerms' || (Object.prototype.hasOwnProperty.call(V, f) && typeof V[f] == 'function'))) {
        return no('unknown function ' + String(f).slice(0, 64));
      }
      if (gid !== cfg.groupid && !cfg.additionalgroupids.includes(gid)) return no('groupid ' + gid.slice(0, 32) + ' does not match');
      (origin === String(loc.origin) && origin !== 'null' ? Promise.resolve([]) : trusted()).then((list) => {
        if (!originTrusted(origin, list)) return no('origin not trusted');
        try { act(f, m.args); } catch (e) { con.error(P + 'glance_invoke ' + f + ' failed', e); }
      }, (e) => no('trusted domains unavailable (' + msg(e) + ')'));
    }

    function trusted() {
      if (!trusted.p) {
        const w = /^wss?:\/\//i.test(cfg.ws) ? cfg.ws.replace(/^ws/i, 'http').replace(/^(https?:\/\/[^/]+).*$/i, '$1')
          : (loc.protocol === 'https:' ? 'https://' : 'http://') + cfg.ws;
        trusted.p = Promise.resolve().then(() => win.fetch(w + '/api/group/' + encodeURIComponent(cfg.groupid) + '/trusted',
          { credentials: 'omit', referrerPolicy: 'no-referrer' }))
          .then((r) => { if (!r.ok) throw 'HTTP ' + r.status; return r.json(); })
          .then((j) => Array.isArray(j && j.trusted_domains) ? j.trusted_domains.map(String) : []);
        trusted.p.catch(() => { trusted.p = null; }); // retried by the next message
      }
      return trusted.p;
    }

    function originTrusted(o, list) {
      if (o === String(loc.origin)) return o !== 'null';
      let u;
      try { u = new URL(o); } catch (e) { return false; }
      // Exact origins only: "null", paths, user info, non-http(s) schemes never pass.
      if (u.origin !== o || !/^https?:$/.test(u.protocol)) return false;
      return list.some((d) => {
        if (!/^https?:\/\//i.test(d)) return d.toLowerCase() === u.hostname;
        try { return new URL(d).origin === o; } catch (e) { return false; }
      });
    }

    function fail(m, ev) {
      failed = m; err(m);
      if (queue.length) con.warn(P + queue.length + ' queued call(s) dropped');
      queue = [];
      emit('error', ev);
      return null;
    }
  }

  const ACTIONS = ['startSession', 'showTerms', 'stopSession'], MODS = ['ctrl', 'shift', 'alt', 'meta'];
  // "ctrl-shift-13" -> {code: 13, ctrl: true, shift: true, alt: false, meta: false}; null when invalid.
  function combo(k) {
    const parts = String(k).toLowerCase().split('-'), code = Number(parts.pop()), c = { code };
    if (!(code > 0 && code < 256 && Number.isInteger(code))) return null;
    for (const m of MODS) c[m] = parts.includes(m);
    return parts.every((p) => MODS.includes(p)) ? c : null;
  }

  if (W && W.document) {
    try { boot(W, (u) => import(u)); } catch (e) { /* never break the page */ }
  } else if (typeof module == 'object' && module && module.exports) {
    module.exports = { boot };
  }
})(typeof window != 'undefined' ? window : null);
