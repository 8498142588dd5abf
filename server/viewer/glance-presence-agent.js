/* GLANCE.Authorization and GLANCE.Presence.Agent: the Presence Agent API (served at
 * /agent/glance-presence-agent.js; see docs/PROTOCOL.md, "Presence").
 *
 *   GLANCE.Authorization.authorize({service, credentials: {username, password} |
 *       {partnerid, partneruserid, loginkey}, groupid, duration, onsuccess, onfail})   // also a Promise
 *   GLANCE.Authorization.setToken(token[, groupid]) / getToken() / clear()
 *   new GLANCE.Presence.Agent({visitorid | uniqueid, presenceserver, groupid})
 *     .lookupVisitor({onsuccess, onfail}) .signalVisitor({data, onsuccess, onfail})
 *     .invokeVisitor({func, args, onsuccess, onfail}) .connect() .disconnect()
 *     handler properties: onvisitorconn onvisitorsock onpresence onterms onvisitorsessionstart
 *       onvisitorsessionend onvisitorerror onvisibility oninvokeres onerror
 *
 * The token (a JWT from POST /api/agent/authorize) is kept in this closure and in localStorage
 * (`glance_presence_auth`, with its group and expiry) so other pages of the same origin reuse it;
 * `data-authtoken` on this script tag or on `<meta id="glance-cobrowse">` sets it too. The group
 * comes from params.groupid, the meta tag's `data-groupid`, or the token's group. The presence
 * server defaults to the origin this script was loaded from. onfail reasons: authorization,
 * connection, visitornotfound, forbidden, invalid. Signals and invokes go over the socket while it
 * is connected, else over REST. Handler exceptions are caught. Defines only window.GLANCE; under
 * Node (no window) it exports { install } for tests. */
(function (W) {
  'use strict';
  const P = 'GLANCE.Presence.Agent: ';
  const STORE = 'glance_presence_auth';

  function install(win) {
    const G = win.GLANCE = win.GLANCE || {};
    if (G.Presence && G.Presence.Agent) return G;
    const con = win.console || { warn() {} };
    const now = () => (win.Date || Date).now();
    const doc = win.document || null;
    const script = doc && doc.currentScript;
    const meta = (() => { try { return doc && doc.getElementById && doc.getElementById('glance-cobrowse'); } catch (e) { return null; } })();
    const attr = (el, n) => { try { return el && el.getAttribute ? el.getAttribute(n) : null; } catch (e) { return null; } };

    let defaultServer = '';
    try { defaultServer = new URL((script && script.src) || win.location.href).origin; } catch (e) { defaultServer = ''; }

    /** {token, groupid, expires (unix s)} or null. */
    let auth = null;
    const safeCall = (fn, arg, what) => {
      if (typeof fn != 'function') return;
      try { fn(arg); } catch (e) { con.warn(P + what + ' threw: ' + String(e && e.message || e)); }
    };
    function claims(token) {
      try {
        const b = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        return JSON.parse(win.atob ? win.atob(b) : Buffer.from(b, 'base64').toString('binary'));
      } catch (e) { return null; }
    }
    function store(a) {
      auth = a;
      try {
        if (a) win.localStorage.setItem(STORE, JSON.stringify(a));
        else win.localStorage.removeItem(STORE);
      } catch (e) { /* storage unavailable: memory only */ }
    }
    function setToken(token, groupid) {
      if (typeof token != 'string' || !token) { store(null); return; }
      const c = claims(token) || {};
      store({ token, groupid: groupid != null ? String(groupid) : (c.groupid != null ? String(c.groupid) : null),
        expires: typeof c.exp == 'number' ? c.exp : null });
    }
    function current() {
      if (auth && auth.expires != null && auth.expires * 1000 <= now()) store(null);
      return auth;
    }
    try {
      const s = JSON.parse(win.localStorage.getItem(STORE) || 'null');
      if (s && typeof s.token == 'string') auth = s;
    } catch (e) { auth = null; }
    const embedded = attr(script, 'data-authtoken') || attr(meta, 'data-authtoken');
    if (embedded) setToken(embedded);

    function serverOf(p) {
      let s = p && p.presenceserver ? String(p.presenceserver) : defaultServer;
      if (!/^https?:\/\//i.test(s)) s = 'https://' + s;
      return s.replace(/\/+$/, '');
    }

    async function authorize(params) {
      const p = params && typeof params == 'object' ? params : {};
      const c = p.credentials && typeof p.credentials == 'object' ? p.credentials : {};
      const body = c.loginkey != null && c.partnerid != null
        ? { partnerid: c.partnerid, partneruserid: c.partneruserid, loginkey: c.loginkey }
        : { username: c.username, password: c.password };
      const groupid = p.groupid != null ? String(p.groupid) : attr(meta, 'data-groupid');
      body.groupid = groupid;
      if (p.duration != null) body.duration = Number(p.duration);
      let res;
      try {
        res = await win.fetch(serverOf(p) + '/api/agent/authorize', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store',
        });
      } catch (e) {
        safeCall(p.onfail, 'connection', 'authorize onfail');
        throw new Error('connection');
      }
      let j = null;
      try { j = await res.json(); } catch (e) { j = null; }
      if (!res.ok || !j || typeof j.token != 'string') {
        const reason = res.status === 403 ? 'forbidden' : (res.status === 401 ? 'authorization' : (j && j.error) || 'error');
        safeCall(p.onfail, reason, 'authorize onfail');
        throw new Error(reason);
      }
      store({ token: j.token, groupid, expires: j.expires });
      safeCall(p.onsuccess, { token: j.token, expires: j.expires }, 'authorize onsuccess');
      return { token: j.token, expires: j.expires };
    }

    G.Authorization = {
      authorize(params) {
        const pr = authorize(params);
        pr.catch(() => {});
        return pr;
      },
      setToken,
      getToken() { const a = current(); return a ? a.token : null; },
      clear() { store(null); },
    };

    const HANDLED = ['visitorconn', 'visitorsock', 'presence', 'terms', 'visitorsessionstart',
      'visitorsessionend', 'visitorerror', 'visibility', 'invokeres'];

    function Agent(params) {
      if (!(this instanceof Agent)) return new Agent(params);
      const p = params && typeof params == 'object' ? params : {};
      this.visitorid = p.visitorid != null ? String(p.visitorid) : null;
      this.uniqueid = p.uniqueid != null ? String(p.uniqueid) : null;
      this.presenceserver = serverOf(p);
      this.groupid = p.groupid != null ? String(p.groupid) : null;
      Object.defineProperty(this, '_s', { value: { ws: null, ready: false, nextId: 1, acks: new Map(), closing: false } });
    }

    Agent.prototype._group = function () {
      const a = current();
      return this.groupid || attr(meta, 'data-groupid') || (a && a.groupid) || '';
    };
    Agent.prototype._query = function () {
      const q = 'groupid=' + encodeURIComponent(this._group());
      return this.uniqueid != null && this.visitorid == null
        ? q + '&uniqueid=' + encodeURIComponent(this.uniqueid)
        : q + '&visitorid=' + encodeURIComponent(this.visitorid || '');
    };
    Agent.prototype._rest = async function (method, path, body) {
      const a = current();
      if (!a) throw new Error('authorization');
      let res;
      try {
        res = await win.fetch(this.presenceserver + path + '?' + this._query().replace('uniqueid=', 'visitorid='), {
          method, headers: Object.assign({ Authorization: 'Bearer ' + a.token }, body ? { 'Content-Type': 'application/json' } : {}),
          body: body ? JSON.stringify(body) : undefined, cache: 'no-store',
        });
      } catch (e) { throw new Error('connection'); }
      let j = null;
      try { j = await res.json(); } catch (e) { j = null; }
      if (res.status === 401) throw new Error('authorization');
      if (!res.ok) throw new Error((j && typeof j.error == 'string' && j.error) || 'error');
      return j;
    };
    Agent.prototype._request = function (mtype, data, p) {
      const s = this._s;
      const done = (ok, v) => safeCall(ok ? p.onsuccess : p.onfail, v, mtype + (ok ? ' onsuccess' : ' onfail'));
      if (s.ws && s.ready) {
        const id = s.nextId++;
        s.acks.set(id, (ack) => (ack.ok ? done(true, ack) : done(false, ack.reason || 'error')));
        const frame = mtype === 'signal' ? { t: 'signal', id, data } : { t: 'invoke', id, func: data.func, args: data.args };
        try { s.ws.send(JSON.stringify(frame)); } catch (e) { s.acks.delete(id); done(false, 'connection'); }
        return;
      }
      this._rest('POST', '/signalvisitor', { mtype, data }).then((j) => done(true, j), (e) => done(false, e.message));
    };
    Agent.prototype.lookupVisitor = function (params) {
      const p = params && typeof params == 'object' ? params : {};
      this._rest('GET', '/lookupvisitor').then(
        (j) => safeCall(p.onsuccess, j, 'lookupVisitor onsuccess'),
        (e) => safeCall(p.onfail, e.message, 'lookupVisitor onfail'));
    };
    Agent.prototype.signalVisitor = function (params) {
      const p = params && typeof params == 'object' ? params : {};
      let data = p.data;
      if (!('data' in p)) {
        // The product's sample passes the message itself: everything but the callbacks.
        data = {};
        for (const k of Object.keys(p)) if (k !== 'onsuccess' && k !== 'onfail') data[k] = p[k];
      }
      this._request('signal', data === undefined ? null : data, p);
    };
    Agent.prototype.invokeVisitor = function (params) {
      const p = params && typeof params == 'object' ? params : {};
      const args = p.args && typeof p.args == 'object' ? p.args : {};
      this._request('invoke', { func: String(p.func || ''), args }, p);
    };
    Agent.prototype._emit = function (name, data) {
      safeCall(this['on' + name], data, 'on' + name);
    };
    Agent.prototype.connect = function () {
      const s = this._s;
      if (s.ws) return;
      const a = current();
      if (!a) {
        Promise.resolve().then(() => this._emit('error', { error: 'connfail', detail: 'authorization' }));
        return;
      }
      let ws;
      try {
        ws = new win.WebSocket(this.presenceserver.replace(/^http/i, 'ws') + '/ws/presence/agent?' + this._query());
      } catch (e) {
        Promise.resolve().then(() => this._emit('error', { error: 'connfail', detail: 'connection' }));
        return;
      }
      s.ws = ws; s.ready = false; s.closing = false;
      let failed = false;
      ws.onopen = () => { try { ws.send(JSON.stringify({ t: 'auth', token: a.token })); } catch (e) { /* onclose follows */ } };
      ws.onmessage = (ev) => {
        let m;
        try { m = JSON.parse(String(ev.data)); } catch (e) { return; }
        if (!m || typeof m.t != 'string') return;
        if (m.t === 'error') {
          failed = true;
          this._emit('error', { error: m.error || 'connfail', detail: m.detail || 'error' });
          return;
        }
        if (m.t === 'ack') {
          const f = s.acks.get(m.id);
          s.acks.delete(m.id);
          if (f) f(m);
          return;
        }
        if (HANDLED.indexOf(m.t) < 0) return;
        s.ready = true;
        let data;
        if (m.t === 'visitorconn' || m.t === 'visitorsock') data = { connected: !!m.connected };
        else if (m.t === 'presence') data = m.data || {};
        else if (m.t === 'terms') data = { status: m.status };
        else if (m.t === 'visibility') data = { visibility: m.visibility };
        else if (m.t === 'invokeres') { data = Object.assign({}, m); delete data.t; }
        else data = m.data || {};
        this._emit(m.t, data);
      };
      ws.onclose = () => {
        const wasClosing = s.closing;
        if (s.ws === ws) { s.ws = null; s.ready = false; }
        for (const f of s.acks.values()) f({ ok: false, reason: 'connection' });
        s.acks.clear();
        if (!wasClosing && !failed) this._emit('error', { error: 'connfail', detail: 'connection' });
      };
    };
    Agent.prototype.disconnect = function () {
      const s = this._s;
      if (!s.ws) return;
      s.closing = true;
      try { s.ws.close(1000); } catch (e) { /* already closed */ }
    };

    G.Presence = G.Presence || {};
    G.Presence.Agent = Agent;
    return G;
  }

  if (W && W.document) {
    try { install(W); } catch (e) { /* never break the page */ }
  } else if (typeof module == 'object' && module && module.exports) {
    module.exports = { install };
  }
})(typeof window != 'undefined' ? window : null);
