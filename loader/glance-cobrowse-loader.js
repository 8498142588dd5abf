/* Glance Cobrowse loader: reads the script/meta tag config, exposes GLANCE.Cobrowse.Visitor and
 * loads the wasm engine asynchronously; the default visitor UI (GlanceCobrowseUI.js) only when
 * first needed and never with data-ui="custom". Classic ES2020 script, no dependencies, defines only
 * window.GLANCE. Under Node (no window) it exports { boot } instead, for tests.
 * With data-presence="on"|"api" it defines GLANCE.Presence.Visitor and imports GlanceCobrowsePresence.js
 * with the first instance. Contract: docs/PROTOCOL.md ("Engine <-> loader", "Presence"). Ships to
 * every page: keep it small. */
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
    // data-ui="custom": the page's events are held until setUIReady() (see `uiHold`).
    let uiHold = null;
    const err = (m) => con.error(P + m);
    const msg = (e) => String(e && e.message || e);

    // Dispatch to every listener; nothing a listener throws ever escapes (the caller may be the engine).
    // `sessionmessage` {name, data} goes to the session message listeners of that name as (name, data).
    function emit(name, payload) {
      try {
        if (name === 'sessioncontinue' && cfg.groupid) group().catch(() => {});
        if (held) return void held.push([name, payload]);
        if (uiHold) {
          // A page that never calls setUIReady() still gets its events, 5 s late, with a warning.
          if (!uiHold.length) setTimeout(() => { if (uiHold) { con.warn(P + 'data-ui="custom" but setUIReady() was not called; delivering events'); V.setUIReady(); } }, 5000);
          return void uiHold.push([name, payload]);
        }
        if (ASK[name]) payload = answerable(name, payload);
        if (name === 'sessionstart' || name === 'sessionend' || name === 'error') report(name, payload);
        if (ui) ui.event(name, payload, !!(listeners[name] || []).length);
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
    // `rcrequested` and `confirm` get `accept()`/`decline()` (each usable once, only for the latest
    // question), which answer the engine. Without a listener and with the default UI, the browser's
    // confirm dialog asks.
    const gens = Object.create(null);
    function answerable(name, p) {
      const gen = gens[name] = (gens[name] || 0) + 1;
      let used = false;
      const answer = (ok) => () => {
        if (used || gen !== gens[name]) return;
        used = true;
        api(ASK[name], ok);
      };
      p = Object.assign({}, p, { accept: answer(true), decline: answer(false) });
      // The default UI module asks (ui.event); the browser's confirm only when it failed to load.
      if (!(listeners[name] || []).length && ui && ui.failed) askPlain(name, p);
      return p;
    }
    function askPlain(name, p) {
      setTimeout(() => {
        let ok = false;
        const who = (p.agent && p.agent.name) || 'The support agent';
        try {
          ok = win.confirm(name === 'confirm' ? who + ' wants to take you to ' + p.url + '. Go there?'
            : who + ' asks to click and type on this page for you (never in passwords or masked fields). ' +
              'You can take control back at any time. Allow?');
        } catch (e) { /* no dialogs */ }
        (ok ? p.accept : p.decline)();
      }, 0);
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
      // Takes remote control back from the agents (rcenabled {enabled:false}).
      disableRC: () => api('disableRC'),
      pause: (b) => api('pause', b === undefined || !!b),
      inSession: () => engine ? !!call('inSession', []) : !failed && (storedSession() || !!handed),
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
      removeSessionMessageListener: (n, f) => remove(msgListeners, n, f),
      // Carries the session to the group's other domains (see crossDomain below); never rejects.
      crossDomain: (p) => xdRun || (xdRun = crossDomain(p).finally(() => { xdRun = null; })),
      // data-ui="custom": the page's UI is ready; events held until now are delivered (no-op otherwise).
      setUIReady() {
        const h = uiHold;
        uiHold = null;
        if (h) for (const [n, p] of h) emit(n, p);
      }
    };
    const UI = C.VisitorUI = C.VisitorUI || {};
    // Default terms prompt (the browser's confirm dialog); a custom UI may replace VisitorUI.showTerms.
    if (!UI.showTerms) {
      UI.showTerms = (p) => {
        if (ui && !ui.failed) return ui.call('showTerms', p);
        let ok = false;
        UI.reportTerms('displayed');
        try { ok = win.confirm('Share this browser tab with a support agent? They will see this page ' +
          '(never passwords or masked fields) until you end the session.'); } catch (e) { /* no dialogs */ }
        UI.reportTerms(ok ? 'accepted' : 'declined');
        if (ok) V.startSession(p);
      };
    }
    // The terms dialog's state for a presence agent (`terms` event): the default UI and the confirm
    // fallback call it; a custom showTerms calls it with "displayed", then "accepted" or "declined".
    if (!UI.reportTerms) {
      UI.reportTerms = (s) => {
        if (/^(displayed|accepted|declined)$/.test(s)) report('terms', { status: s });
        else con.warn(P + 'reportTerms("' + String(s).slice(0, 32) + '") ignored (want displayed, accepted or declined)');
      };
    }
    // Default cross-domain prompt: Yes / No in the page; "Yes" is a click, so the helper popup opens.
    if (!UI.promptCrossDomain) {
      UI.promptCrossDomain = (p) => {
        if (ui && !ui.failed) return ui.call('promptCrossDomain', p);
        try {
          if (doc.getElementById('glance_xd_prompt')) return;
          const d = doc.createElement('div'), t = doc.createElement('p'), no = doc.createElement('button'), yes = no.cloneNode();
          d.id = 'glance_xd_prompt';
          d.setAttribute('role', 'dialog');
          d.style.cssText = 'position:fixed;z-index:2147483647;right:16px;bottom:16px;max-width:300px;padding:12px;' +
            'background:#fff;color:#222;font:14px sans-serif;border:1px solid #888;border-radius:6px;box-shadow:0 2px 8px #0004';
          t.textContent = 'Keep sharing with the support agent on our other websites?';
          yes.textContent = 'Yes'; no.textContent = 'No';
          yes.onclick = () => { d.remove(); V.crossDomain(p); };
          no.onclick = () => d.remove();
          d.append(t, yes, ' ', no);
          (doc.body || doc.documentElement).appendChild(d);
        } catch (e) { err('promptCrossDomain failed: ' + msg(e)); }
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
      // "custom" (and the documented "omit"): no default UI module, no skin, no dialogs.
      ui: /^(custom|omit)$/i.test(a('ui') || '') ? 'custom' : 'default',
      lang: a('lang'),
      video: a('video'),
      visitorid: a('visitorid'),
      presence: a('presence') && a('presence').toLowerCase(),
      // Seconds between presence updates (data-presenceinterval, default 60).
      presenceinterval: Number(a('presenceinterval')) > 0 ? Number(a('presenceinterval')) : null,
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

    // The default visitor UI (GlanceCobrowseUI.js, an ES module), loaded on first need; with
    // data-ui="custom" there is none and events wait for setUIReady().
    const ui = cfg.ui === 'custom' ? null : uiProxy();
    if (!ui && cfg.groupid) uiHold = [];

    // ---- presence (data-presence="on" | "api"): GLANCE.Presence.Visitor, see presenceApi ----
    let pres = null; // the presence module's context once it is in: {report(name, data)}
    function report(name, data) { try { if (pres && pres.report) pres.report(name, data); } catch (e) { /* */ } }
    if (cfg.groupid && /^(on|api)$/.test(cfg.presence || '')) presenceApi();
    else if (cfg.presence && cfg.presence !== 'off') con.warn(P + 'data-presence="' + cfg.presence.slice(0, 16) + '" ignored (want on, api or off)');

    // ---- cross-domain hand-off: a token in the fragment (#glance_xd=T) is removed from the URL and
    // the history entry before anything else, then redeemed (the server checks this page's Origin).
    // `?GlanceSession=1&groupid=G&data-site=S` marks a helper page: it only stores the session.
    let handed = null, xdRun = null, xdList = null;
    const carried = Object.create(null); // origins a link already carried the session to
    const hm = /(?:^#|&)glance_xd=([0-9a-f]{32})(?=&|$)/.exec(loc.hash || '');
    if (hm) {
      const rest = loc.hash.slice(1).split('&').filter((x) => !/^glance_xd=/.test(x)).join('&');
      try { win.history.replaceState(win.history.state, '', loc.pathname + loc.search + (rest ? '#' + rest : '')); }
      catch (e) { err('could not remove the hand-off token from the URL'); }
    }
    let q = null;
    try { q = new URLSearchParams(loc.search || ''); } catch (e) { /* */ }
    if (cfg.groupid && q && q.get('GlanceSession') === '1') {
      cfg.helper = true;
      const g = q.get('groupid'), site = q.get('data-site');
      // The group id of the URL is accepted only from the tag's own list.
      if (g && g !== cfg.groupid) {
        if (cfg.additionalgroupids.includes(g)) cfg.groupid = g;
        else con.warn(P + 'helper: groupid ' + g.slice(0, 32) + ' is not data-groupid or data-additionalgroupids; ignored');
      }
      if (site === 'staging' || site === 'production') cfg.site = site;
    }
    if (cfg.groupid && hm) handed = redeem(hm[1]);

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
      if (doc.addEventListener && !cfg.helper) doc.addEventListener('click', onLink, true);
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
        if (ui) ui.engineModule(mod);
      } catch (e) {
        if (ui) ui.engineModule(null);
        return fail('could not load ' + what + ': ' + msg(e), { code: 'SCRIPT_NOT_LOADED', msg: msg(e), params: { script: what } });
      }
      // The engine starts once the document is parsed: the page's own scripts have added their
      // listeners by then (a continuing session emits at once), and the first snapshot is whole.
      if (doc.readyState === 'loading') await new Promise((r) => doc.addEventListener('DOMContentLoaded', r, { once: true }));
      let opener = null;
      if (handed) {
        const h = await handed;
        opener = h.opener;
        if (h.session) cfg.handoff = h.session;
        else emit('error', { code: h.code, msg: 'the session could not be carried over from the other site: ' + h.code });
      }
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
      if (cfg.helper) helperDone(!!cfg.handoff && storedSession(), opener);
      return eng;
    }

    // A helper page tells the window that opened it whether the session is stored on this domain,
    // only at the origin the server says asked for the token (never '*'; no origin: no message, the
    // opener times out).
    function helperDone(ok, to) {
      try { if (win.opener && to) win.opener.postMessage({ glance_xd: ok ? 'stored' : 'failed' }, to); } catch (e) { /* */ }
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

    // The session server's http(s) base URL (from data-ws).
    function srv(path) {
      const w = /^wss?:\/\//i.test(cfg.ws) ? cfg.ws.replace(/^ws/i, 'http').replace(/^(https?:\/\/[^/]+).*$/i, '$1')
        : (loc.protocol === 'https:' ? 'https://' : 'http://') + cfg.ws;
      return w + path;
    }
    function strs(a) { return Array.isArray(a) ? a.map(String) : []; }
    // The group's public cross-domain settings {t: trusted_domains, h: crossdomain_helpers}, read once.
    function group() {
      if (!group.p) {
        group.p = Promise.resolve().then(() => win.fetch(srv('/api/group/' + encodeURIComponent(cfg.groupid) + '/trusted'),
          { credentials: 'omit', referrerPolicy: 'no-referrer' }))
          .then((r) => { if (!r.ok) throw 'HTTP ' + r.status; return r.json(); })
          .then((j) => (xdList = { t: strs(j && j.trusted_domains), h: strs(j && j.crossdomain_helpers) }));
        group.p.catch(() => { group.p = null; }); // retried by the next use
      }
      return group.p;
    }
    function trusted() { return group().then((g) => g.t); }

    function post(path, body) {
      return Promise.resolve().then(() => win.fetch(srv(path), { method: 'POST', body: JSON.stringify(body),
      credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' }))
      .then((r) => r.json().catch(() => ({})).then((j) => r.ok ? j : { error: (j && j.error) || 'HTTP ' + r.status }));
    }

    // Redeems a hand-off token: {session} or {code}. Never rejects.
    function redeem(t) {
      return post('/api/handoff/redeem', { token: t }).then((j) => typeof j.session == 'string'
        ? { session: j.session, opener: typeof j.opener == 'string' ? j.opener : null } : { code: String(j.error || 'BAD_TOKEN') },
        (e) => ({ code: 'service', detail: msg(e) }));
    }

    // The stored session of this group {key, sid}, or null.
    function stored() {
      let raw = null;
      try { raw = (/(?:^|;\s*)glance_ssn_info=([^;\s]+)/.exec(doc.cookie) || [])[1]; } catch (e) { /* */ }
      if (!raw) try { raw = win.localStorage.getItem('glance_ssn_info'); } catch (e) { /* */ }
      const f = String(raw || '').split('.');
      try {
        return f.length === 5 && f[0] === 'v1' && decodeURIComponent(f[3]) === cfg.groupid
          ? { key: decodeURIComponent(f[1]), sid: decodeURIComponent(f[2]) } : null;
      } catch (e) { return null; }
    }

    // A token for carrying the live session to `origin`: resolves to the token, rejects with an error code.
    function token(origin) {
      const s = V.inSession() && stored();
      if (!s) return Promise.reject('NOT_IN_SESSION');
      return post('/api/handoff', { group: cfg.groupid, key: s.key, sid: s.sid, target: origin })
        .then((j) => { if (typeof j.token != 'string') throw String(j.error || 'service'); return j.token; }, () => { throw 'service'; });
    }
    function withToken(u, t) { return u.href.replace(/#.*$/, '') + (u.hash ? u.hash + '&' : '#') + 'glance_xd=' + t; }
    function xdErr(code, m) { emit('error', { code, msg: m }); }

    // Plain links to a trusted domain carry the session over on their first click (a fragment
    // token, removed by the loader there); anything else is left to the browser.
    function onLink(ev) {
      try {
        if (ev.defaultPrevented || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
        const a = ev.target && ev.target.closest && ev.target.closest('a[href]');
        // `_self` (or none) navigates this window; `_blank` or a named target opens another
        // (`_top`/`_parent` are left to the browser).
        const other = !!a && !!a.target && !/^_self$/i.test(a.target);
        if (!a || (other && /^_(top|parent)$/i.test(a.target)) || a.hasAttribute('download')) return;
        const u = new URL(a.href, base);
        if (!/^https?:$/.test(u.protocol) || u.origin === String(loc.origin) || carried[u.origin]) return;
        if (!xdList || !originTrusted(u.origin, xdList.t) || !V.inSession() || !stored()) return;
        // Another window is opened now, while the click allows it, and sent on once the token is
        // there; without the opener, as the browser does for a `_blank` link.
        const w = other ? win.open('about:blank', a.target) : null;
        if (other && !w) return;
        if (w) try { w.opener = null; } catch (e) { /* */ }
        ev.preventDefault();
        carried[u.origin] = 1;
        const go = (href) => {
          try { if (w) w.location.href = href; else loc.assign(href); } catch (e) { if (!w) loc.href = href; }
        };
        token(u.origin).then((t) => go(withToken(u, t)), (code) => {
          xdErr(code, 'the session was not carried over to ' + u.origin + ': ' + code);
          go(u.href);
        });
      } catch (e) { /* never break a click */ }
    }

    // crossDomain({url, target}): opens each trusted domain's helper page (one popup, opened now so
    // the click that called us allows it) with a token so that domain stores the session, closes it,
    // then goes to `url` (with a token when it is on another trusted domain). Resolves true when every
    // helper stored the session; never rejects; errors are `error` events.
    async function crossDomain(p) {
      const o = p && typeof p == 'object' ? p : {};
      let url = null, pop = null, ok = true;
      if (o.url != null) {
        try { url = new URL(String(o.url), base); } catch (e) { xdErr('UNTRUSTED_ORIGIN', 'bad url ' + String(o.url).slice(0, 200)); return false; }
      }
      const target = o.target == null ? '_self' : String(o.target);
      const self = /^_(self|top)$/i.test(target);
      const live = V.inSession() && !!stored();
      const other = (h) => { try { return new URL(h).origin !== String(loc.origin); } catch (e) { return false; } };
      if (live && (!xdList || xdList.h.some(other) || !self)) {
        try { pop = win.open('about:blank', '_blank', 'popup,width=240,height=160'); } catch (e) { pop = null; }
      }
      try {
        const g = await group().catch(() => null);
        if (!g) { xdErr('service', 'cross-domain settings unavailable'); ok = false; }
        if (url && /^https?:$/.test(url.protocol) && url.origin !== String(loc.origin) && live && g && !originTrusted(url.origin, g.t)) {
          xdErr('UNTRUSTED_ORIGIN', url.origin + ' is not a trusted domain of group ' + cfg.groupid);
          if (pop) pop.close();
          return false;
        }
        const helpers = live && g ? g.h.filter(other) : [];
        if (helpers.length && !pop) {
          ok = false;
          xdErr('POPUP_BLOCKED', 'the cross-domain helper window was blocked: call crossDomain() from a click, ' +
            'or use GLANCE.Cobrowse.VisitorUI.promptCrossDomain()');
        }
        for (const h of pop ? helpers : []) {
          const hu = new URL(h);
          let t;
          try { t = await token(hu.origin); } catch (code) { ok = false; xdErr(code, 'helper ' + hu.origin + ': ' + code); continue; }
          hu.searchParams.set('GlanceSession', '1');
          hu.searchParams.set('groupid', cfg.groupid);
          hu.searchParams.set('data-site', cfg.site);
          if (!await helperRun(pop, withToken(hu, t))) { ok = false; xdErr('service', 'helper ' + hu.origin + ' did not store the session'); }
        }
        let dest = url && url.href;
        if (url && live && url.origin !== String(loc.origin) && /^https?:$/.test(url.protocol)) {
          try { dest = withToken(url, await token(url.origin)); } catch (code) { ok = false; xdErr(code, 'the session was not carried over to ' + url.origin + ': ' + code); }
        }
        if (dest && !self && pop && !pop.closed) { pop.location.href = dest; pop = null; }
        else if (dest && self) (/^_top$/i.test(target) ? win.top : win).location.assign(dest);
        else if (dest) win.open(dest, target);
      } catch (e) {
        ok = false; xdErr('service', 'crossDomain failed: ' + msg(e));
      } finally {
        try { if (pop) pop.close(); } catch (e) { /* */ }
      }
      return ok;
    }

    // Shows one helper in the popup; true once it says the session is stored (10 s at most).
    function helperRun(pop, href) {
      return new Promise((res) => {
        let done = false;
        const end = (v) => { if (!done) { done = true; win.removeEventListener('message', on); clearTimeout(tm); clearInterval(iv); res(v); } };
        const on = (ev) => { try { if (ev.source === pop && ev.data && ev.data.glance_xd) end(ev.data.glance_xd === 'stored'); } catch (e) { /* */ } };
        win.addEventListener('message', on);
        const tm = setTimeout(() => end(false), 10000), iv = setInterval(() => { if (pop.closed) end(false); }, 200);
        try { pop.location.href = href; } catch (e) { end(false); }
      });
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

    // The loader's side of the default UI. Events are kept from the first one that needs the UI
    // (a session, a question) until the module is there; `call`s too. `hide(node)` marks the UI's
    // host with the engine's hideNode; nodes handed over before the wasm is in are marked as soon
    // as it is, before the engine (and so any capture) exists. If the module cannot be loaded,
    // `failed` is set and the plain fallbacks (window.confirm, the in-page prompt) are used.
    function uiProxy() {
      const NEED = /^(sessionstarting|sessionstart|sessioncontinue|rcrequested|confirm|addguestrequested)$/;
      let mod = null, pending = null, mark = null, toHide = [], wasmDone;
      const wasmIn = new Promise((r) => { wasmDone = r; });
      const p = {
        failed: false,
        engineModule(m) {
          try { mark = m && m.Engine && m.Engine.hideNode ? (n) => m.Engine.hideNode(n) : null; } catch (e) { mark = null; }
          p.masked = (el) => { try { return !m || !!m.Engine.maskedNode(el); } catch (e) { return true; } };
          if (mark) for (const n of toHide) try { mark(n); } catch (e) { /* */ }
          toHide = [];
          wasmDone();
        },
        // The UI says nothing about an element unless the engine says it is not masked.
        masked: () => true,
        event(name, payload, pageListens) {
          if (p.failed) return;
          if (mod) return deliver(() => mod.event(name, payload, pageListens));
          if (!pending && !NEED.test(name)) return;
          start().push(['event', name, payload, pageListens]);
        },
        call(what, arg) { if (mod) deliver(() => mod[what](arg)); else start().push(['call', what, arg]); }
      };
      function deliver(f) { try { f(); } catch (e) { con.error(P + 'visitor UI failed', e); } }
      function start() {
        if (pending) return pending;
        pending = [];
        const url = cfg.scriptserver + '/GlanceCobrowseUI.js';
        Promise.resolve().then(() => importer(url)).then((m) => {
          if (!m || typeof m.mount != 'function') throw new Error('not the UI module');
          mod = m.mount({
            win, cfg, Visitor: V,
            skins: cfg.scriptserver + '/skins/',
            // Resolves once `node` is marked (or the engine is known not to load).
            hide: (node) => { if (mark) mark(node); else toHide.push(node); return wasmIn; },
            masked: (el) => p.masked(el),
            terms: (s) => UI.reportTerms(s),
            session: () => V.getSessionState()
          });
          if (!mod) throw new Error('mount failed');
        }).catch((e) => {
          p.failed = true;
          con.warn(P + 'default visitor UI unavailable (' + msg(e) + '); using the browser\'s dialogs');
        }).then(() => {
          const q = pending;
          pending = [];
          for (const [k, n, a, l] of q) {
            if (mod) deliver(k === 'call' ? () => mod[n](a) : () => mod.event(n, a, l));
            // Without the module, questions still waiting are asked the plain way.
            else if (k === 'call') deliver(() => UI[n](a));
            else if (ASK[n] && !l) askPlain(n, a);
          }
        });
        return pending;
      }
      return p;
    }

    // GLANCE.Presence.Visitor: instances forward to GlanceCobrowsePresence.js (an ES module imported
    // with the first instance); calls made before it is in are replayed in order. data-presence="on"
    // with data-visitorid creates one at load, sends presence and connects.
    function presenceApi() {
      const Pr = G.Presence = G.Presence || {};
      const boxes = new WeakMap(), waiting = [];
      let make = null, loading = null;
      const start = () => loading || (loading = Promise.resolve()
        .then(() => importer(cfg.scriptserver + '/GlanceCobrowsePresence.js'))
        .then((m) => {
          if (!m || typeof m.start != 'function') throw new Error('not the presence module');
          const c = { win, cfg };
          make = m.start(c);
          pres = c;
        })
        .catch((e) => err('presence unavailable: ' + msg(e)))
        .then(() => { for (const [i, b] of waiting.splice(0)) bind(i, b); }));
      function bind(inst, b) {
        try { if (make) b.h = make(inst, b.o); } catch (e) { err('presence failed: ' + msg(e)); }
        for (const [m, args] of b.q.splice(0)) {
          if (b.h) run(b, m, args);
          else if (/^connect/.test(m) && typeof inst.onerror == 'function') {
            try { inst.onerror({ error: 'connfail', detail: 'error' }); } catch (e) { con.error(P + 'onerror threw', e); }
          }
        }
      }
      function run(b, m, args) {
        try { return b.h[m](...args); } catch (e) { err('presence ' + m + ' failed: ' + msg(e)); }
      }
      function PV(params) {
        if (!(this instanceof PV)) return new PV(params);
        const p = params && typeof params == 'object' ? params : {};
        const o = {
          groupid: p.groupid != null ? String(p.groupid) : cfg.groupid,
          visitorid: p.visitorid != null ? String(p.visitorid) : cfg.visitorid,
          ws: p.ws ? String(p.ws) : cfg.ws,
          presenceinterval: p.presenceinterval != null ? p.presenceinterval : cfg.presenceinterval
        };
        const b = { h: null, q: [], o };
        boxes.set(this, b);
        PV.instance = this;
        if (make) bind(this, b);
        else { waiting.push([this, b]); start(); }
      }
      for (const m of ['presence', 'connect', 'connectUnique', 'extendUnique', 'disconnect', 'setVisitorId']) {
        PV.prototype[m] = function (...args) {
          const b = boxes.get(this);
          if (b && b.h) run(b, m, args);
          else if (b) b.q.push([m, args]);
        };
      }
      PV.prototype.getVisitorId = function () {
        const b = boxes.get(this);
        return b ? (b.h ? run(b, 'getVisitorId', []) : b.o.visitorid || '') : '';
      };
      PV.prototype.isconnected = function () { const b = boxes.get(this); return !!(b && b.h && run(b, 'isconnected', [])); };
      PV.instance = null;
      PV.setVisitorId = (id) => { if (PV.instance) PV.instance.setVisitorId(id); };
      Pr.Visitor = PV;
      if (cfg.presence === 'on') {
        if (!cfg.visitorid) con.warn(P + 'data-presence="on" needs data-visitorid; not connected (GLANCE.Presence.Visitor is there)');
        else { const v = new PV(); v.presence(); v.connect(); }
      }
    }

    function fail(m, ev) {
      failed = m; err(m);
      if (cfg.helper && handed) handed.then((h) => helperDone(false, h.opener));
      if (queue.length) con.warn(P + queue.length + ' queued call(s) dropped');
      queue = [];
      emit('error', ev);
      return null;
    }
  }

  const ACTIONS = ['startSession', 'showTerms', 'stopSession'], MODS = ['ctrl', 'shift', 'alt', 'meta'];
  // Events that ask the visitor, and the engine call their answer goes to.
  const ASK = Object.assign(Object.create(null), { rcrequested: 'rcAnswer', confirm: 'navAnswer' });
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
