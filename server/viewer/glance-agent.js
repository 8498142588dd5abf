/* GLANCE.Agent: the browser agent API (served at /agent/glance-agent.js). A CRM or agent console
 * page loads it to authenticate an agent, look up a visitor's session by key and open the agent
 * viewer in a window; the viewer posts its events back (`{glance_agent: {event, data}}`).
 *
 *   GLANCE.Agent.webserver                  // default: the origin this script was loaded from
 *   GLANCE.Agent.authenticate({username, password} | {partnerid, partneruserid, loginkey})
 *   GLANCE.Agent.lookupSession(key, wait = true)   // Promise: lookupFound data, or {} (wait=false)
 *   GLANCE.Agent.cancelLookup()
 *   GLANCE.Agent.joinSession(key, joinparams)      // Promise: the viewer window (has .close())
 *   GLANCE.Agent.openViewer(key, joinparams)
 *   GLANCE.Agent.openAgentJoinURL(url, joinparams)
 *   GLANCE.Agent.inSession(key)                    // Promise<boolean>
 *   GLANCE.Agent.addEventListener(name, fn) / removeEventListener(name, fn) / addEventListenerAll(fn)
 *   GLANCE.Agent.groupid                   // presence group (default: <meta id="glance-cobrowse" data-groupid>)
 *   GLANCE.Agent.presenceConnect(visitorid)        // Promise: the GLANCE.Presence.Agent, once connected
 *   GLANCE.Agent.presenceStartSession(visitorid, invokeparams, joinparams)  // invoke, then joinSession
 *   GLANCE.Agent.presenceDisconnect()
 *
 * Presence needs /agent/glance-presence-agent.js (GLANCE.Authorization, GLANCE.Presence.Agent)
 * loaded too, and a presence token: GLANCE.Authorization's (authorize / setToken / data-authtoken),
 * else one authorized here with the credentials last given to authenticate() and `groupid`.
 * Events: presence (the visitor's presence data), presenceOnTerms {status}, presenceVisibility
 * {visibility}, presenceError {error, detail}, presenceFailed / presenceInvokeFailed
 * {service:"Presence", reason}.
 *
 * Lookups with wait retry immediately, then every 3 s until 15 s, then every 5 s until 45 s
 * (each attempt fires lookupWaiting {service:"agent", ssnkey, cancel}), then fail with
 * lookupFailed {service, ssnkey, reason:"timedout"}. The bearer token stays in this closure.
 * Defines only window.GLANCE; listener exceptions are caught. Under Node (no window) it exports
 * { install } instead, for tests. */
(function (W) {
  'use strict';
  const P = 'GLANCE.Agent: ';
  /** Offsets (ms from the start) of the lookup attempts when waiting. */
  const SCHEDULE = [0, 3000, 6000, 9000, 12000, 15000, 20000, 25000, 30000, 35000, 40000, 45000];
  const POLL_CLOSED_MS = 500;
  const DEFAULT_FEATURES = 'width=800,height=800,toolbar=no,menubar=no,location=no,status=no,scrollbars=yes,resizable=yes';

  function install(win) {
    const G = win.GLANCE = win.GLANCE || {};
    if (G.Agent) return G.Agent;
    const con = win.console || { warn() {} };
    const listeners = new Map();
    const all = [];
    let token = null;
    let creds = null;             // the last credentials given to authenticate(), for presence
    let presence = null;          // {agent: GLANCE.Presence.Agent, visitorid}
    let current = null;           // the most recent lookup in progress
    const viewers = [];           // {win, key, connected, poll}
    const found = new Map();      // ssnkey -> lookupFound data (for sessionEnded's ssnid)
    const now = () => (win.Date || Date).now();

    let defaultServer = '';
    try {
      const s = win.document && win.document.currentScript && win.document.currentScript.src;
      defaultServer = new URL(s || win.location.href).origin;
    } catch (e) { defaultServer = ''; }

    function server() {
      return String(A.webserver || defaultServer).replace(/\/+$/, '');
    }
    function serverOrigin() {
      try { return new URL(server()).origin; } catch (e) { return null; }
    }

    function fire(name, data) {
      const call = (fn, args) => {
        try { fn.apply(null, args); } catch (e) { con.warn(P + 'a "' + name + '" listener threw: ' + String(e && e.message || e)); }
      };
      for (const fn of (listeners.get(name) || []).slice()) call(fn, [data]);
      for (const fn of all.slice()) call(fn, [name, data]);
    }

    async function readError(res) {
      try {
        const j = await res.json();
        if (j && typeof j.error == 'string') return j.error;
      } catch (e) { /* not JSON */ }
      return 'http' + res.status;
    }

    async function fetchLookup(key) {
      const headers = {};
      if (token) headers.Authorization = 'Bearer ' + token;
      let res;
      try {
        res = await win.fetch(server() + '/api/agent/lookup?key=' + encodeURIComponent(key),
          { headers, credentials: 'same-origin', cache: 'no-store' });
      } catch (e) { throw new Error('network'); }
      if (!res.ok) throw new Error(await readError(res));
      const data = await res.json();
      if (!data || typeof data != 'object' || Array.isArray(data)) throw new Error('badresponse');
      return data;
    }

    function lookupSession(sessionkey, wait) {
      wait = wait !== false;
      const ssnkey = sessionkey == null ? '' : String(sessionkey);
      let done = false, timer = null, resolve, reject;
      const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
      const finish = () => {
        done = true;
        if (timer != null) win.clearTimeout(timer);
        timer = null;
        if (current === handle) current = null;
      };
      const handle = {
        cancel() {
          if (done) return;
          finish();
          fire('lookupCancelled', { service: 'agent', ssnkey });
          reject(new Error('cancelled'));
        },
      };
      const fail = (reason) => {
        finish();
        fire('lookupFailed', { service: 'agent', ssnkey, reason });
        reject(new Error(reason));
      };
      if (!ssnkey) {
        Promise.resolve().then(() => fail('badparams'));
        return promise;
      }
      current = handle;
      const start = now();
      let i = 0;
      const attempt = async () => {
        timer = null;
        if (done) return;
        if (wait) fire('lookupWaiting', { service: 'agent', ssnkey, cancel: handle.cancel });
        let data;
        try {
          data = await fetchLookup(ssnkey);
        } catch (e) {
          if (!done) fail(String(e && e.message || e));
          return;
        }
        if (done) return;
        if (typeof data.agentjoinurl == 'string' && data.agentjoinurl) {
          finish();
          const d = Object.assign({}, data, { service: 'agent' });
          found.set(ssnkey, d);
          fire('lookupFound', d);
          resolve(d);
          return;
        }
        if (!wait) { finish(); resolve({}); return; }
        i += 1;
        if (i >= SCHEDULE.length) { fail('timedout'); return; }
        timer = win.setTimeout(attempt, Math.max(0, start + SCHEDULE[i] - now()));
      };
      attempt();
      return promise;
    }

    function keyOf(url) {
      try { return new URL(url).searchParams.get('SessionKey') || ''; } catch (e) { return ''; }
    }

    function track(w, key) {
      const v = { win: w, key, connected: false, poll: null };
      v.poll = win.setInterval(() => {
        let closed = true;
        try { closed = !!w.closed; } catch (e) { closed = true; }
        if (!closed) return;
        win.clearInterval(v.poll);
        const i = viewers.indexOf(v);
        if (i >= 0) viewers.splice(i, 1);
        fire('viewerClosed', { service: 'agent' });
      }, POLL_CLOSED_MS);
      viewers.push(v);
    }

    function openAgentJoinURL(agentjoinurl, joinparams) {
      const jp = joinparams && typeof joinparams == 'object' ? joinparams : {};
      let url;
      try {
        url = new URL(String(agentjoinurl), server() + '/');
        if (!/^https?:$/.test(url.protocol)) throw new Error('not http(s)');
        url.searchParams.set('origin', win.location.origin);
      } catch (e) {
        return Promise.reject(new Error('badurl'));
      }
      let w = null;
      try {
        w = win.open(url.href, jp.windowName || '_blank', jp.windowFeatures || DEFAULT_FEATURES);
      } catch (e) { w = null; }
      if (!w) {
        fire('popupblocked', { service: 'agent' });
        return Promise.reject(new Error('popupblocked'));
      }
      track(w, keyOf(url.href));
      fire('viewerOpened', { service: 'agent', close: () => { try { w.close(); } catch (e) { /* gone */ } } });
      return Promise.resolve(w);
    }

    function onMessage(ev) {
      try {
        const m = ev && ev.data && ev.data.glance_agent;
        if (!m || typeof m != 'object' || typeof m.event != 'string') return;
        if (ev.origin !== serverOrigin()) return;
        const v = viewers.find((x) => x.win === ev.source);
        if (!v) return;
        const data = Object.assign({}, m.data && typeof m.data == 'object' ? m.data : {});
        const ev2 = m.event;
        if (ev2 === 'connected') {
          v.connected = true;
          fire('connected', { ssnkey: data.ssnkey != null ? data.ssnkey : v.key, groupid: data.groupid, service: 'cobrowse' });
        } else if (ev2 === 'sessionended' || ev2 === 'sessionEnded') {
          v.connected = false;
          const key = data.ssnkey != null ? String(data.ssnkey) : v.key;
          const f = found.get(key);
          fire('sessionEnded', {
            ssnid: data.ssnid != null ? data.ssnid : (f ? f.ssnid : undefined),
            ssnkey: key,
            groupid: data.groupid != null ? data.groupid : (f ? f.groupid : undefined),
            reason: data.reason === 'AgentLeft' ? 'AgentLeft' : 'VisitorLeft',
            service: 'cobrowse',
          });
        } else {
          if (data.service == null) data.service = 'cobrowse';
          fire(ev2, data);
        }
      } catch (e) { con.warn(P + 'viewer message ignored: ' + String(e && e.message || e)); }
    }

    let metaGroup = null;
    try {
      const m = win.document && win.document.getElementById && win.document.getElementById('glance-cobrowse');
      metaGroup = m && m.getAttribute ? m.getAttribute('data-groupid') : null;
    } catch (e) { metaGroup = null; }

    function presenceFail(event, reason) {
      fire(event, { service: 'Presence', reason });
      return Promise.reject(new Error(reason));
    }

    function presenceDisconnect() {
      const p = presence;
      presence = null;
      if (p) { try { p.agent.disconnect(); } catch (e) { /* gone */ } }
    }

    function presenceConnect(visitorid) {
      const PA = G.Presence && G.Presence.Agent;
      const AU = G.Authorization;
      if (typeof PA != 'function' || !AU) return presenceFail('presenceFailed', 'notloaded');
      const vid = visitorid == null ? '' : String(visitorid);
      if (!vid) return presenceFail('presenceFailed', 'badparams');
      let ready;
      if (AU.getToken()) ready = Promise.resolve();
      else if (creds && A.groupid != null) {
        ready = AU.authorize({ credentials: creds, groupid: A.groupid, presenceserver: server() });
      } else ready = Promise.reject(new Error('authorization'));
      return ready.then(() => new Promise((resolve, reject) => {
        presenceDisconnect();
        const pa = new PA({ visitorid: vid, presenceserver: server(), groupid: A.groupid != null ? A.groupid : undefined });
        const me = { agent: pa, visitorid: vid };
        presence = me;
        let settled = false;
        pa.onvisitorconn = () => { if (!settled) { settled = true; resolve(pa); } };
        pa.onpresence = (d) => fire('presence', d);
        pa.onterms = (d) => fire('presenceOnTerms', d);
        pa.onvisibility = (d) => fire('presenceVisibility', d);
        pa.onerror = (d) => {
          if (settled) { fire('presenceError', d); return; }
          settled = true;
          if (presence === me) presence = null;
          reject(new Error(d && d.detail || 'error'));
        };
        pa.connect();
      })).catch((e) => presenceFail('presenceFailed', String(e && e.message || e)));
    }

    function presenceStartSession(visitorid, invokeparams, joinparams) {
      const p = presence;
      const vid = visitorid == null ? (p ? p.visitorid : '') : String(visitorid);
      if (!p || p.visitorid !== vid) return presenceFail('presenceInvokeFailed', 'notconnected');
      const ip = invokeparams && typeof invokeparams == 'object' ? invokeparams : {};
      const func = typeof ip.func == 'string' && ip.func ? ip.func : 'GLANCE.Cobrowse.VisitorUI.showTerms';
      const args = Object.assign({ sessionKey: vid }, ip.args && typeof ip.args == 'object' ? ip.args : {});
      return new Promise((resolve, reject) => {
        p.agent.invokeVisitor({ func, args, onsuccess: resolve, onfail: (r) => reject(new Error(String(r))) });
      }).then(
        () => A.joinSession(String(args.sessionKey), joinparams),
        (e) => presenceFail('presenceInvokeFailed', e.message));
    }

    const A = G.Agent = {
      webserver: defaultServer,
      groupid: metaGroup,

      authenticate(credentials) {
        const c = credentials && typeof credentials == 'object' ? credentials : {};
        const body = c.loginkey != null
          ? { partnerid: c.partnerid, partneruserid: c.partneruserid, loginkey: c.loginkey }
          : { username: c.username, password: c.password };
        return (async () => {
          let res;
          try {
            res = await win.fetch(server() + '/api/agent/auth', {
              method: 'POST', headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store',
            });
          } catch (e) { throw new Error('network'); }
          if (!res.ok) { token = null; creds = null; throw new Error(await readError(res)); }
          const j = await res.json();
          if (!j || typeof j.token != 'string') throw new Error('badresponse');
          token = j.token;
          creds = body;
          return { agent: j.agent, expires: j.expires };
        })();
      },

      lookupSession(sessionkey, wait) {
        return lookupSession(sessionkey, wait);
      },

      cancelLookup() {
        if (current) current.cancel();
      },

      joinSession(sessionkey, joinparams) {
        const jp = joinparams && typeof joinparams == 'object' ? joinparams : {};
        return lookupSession(sessionkey, jp.wait !== false).then((d) => {
          if (!d.agentjoinurl) throw new Error('notfound');
          return openAgentJoinURL(d.agentjoinurl, jp);
        });
      },

      openViewer(sessionkey, joinparams) {
        const key = sessionkey == null ? '' : String(sessionkey);
        const plain = server() + '/agentjoin/AgentView.aspx?SessionKey=' + encodeURIComponent(key) + '&wait=1';
        if (!token) return openAgentJoinURL(plain, joinparams);
        // Authenticated: a ticket from a lookup logs the viewer in; otherwise it shows its login.
        return lookupSession(key, false).then(
          (d) => openAgentJoinURL(d.agentjoinurl ? d.agentjoinurl + '&wait=1' : plain, joinparams),
          () => openAgentJoinURL(plain, joinparams));
      },

      openAgentJoinURL(agentjoinurl, joinparams) {
        return openAgentJoinURL(agentjoinurl, joinparams);
      },

      inSession(sessionkey) {
        const key = String(sessionkey);
        return Promise.resolve(viewers.some((v) => {
          let open = false;
          try { open = !v.win.closed; } catch (e) { open = false; }
          return v.key === key && v.connected && open;
        }));
      },

      addEventListener(name, fn) {
        if (typeof fn != 'function') return;
        const k = String(name);
        if (!listeners.has(k)) listeners.set(k, []);
        listeners.get(k).push(fn);
      },

      removeEventListener(name, fn) {
        const l = listeners.get(String(name));
        const i = l ? l.indexOf(fn) : -1;
        if (i >= 0) l.splice(i, 1);
        const j = all.indexOf(fn);
        if (j >= 0) all.splice(j, 1);
      },

      addEventListenerAll(fn) {
        if (typeof fn == 'function') all.push(fn);
      },

      presenceConnect(visitorid) {
        return presenceConnect(visitorid);
      },

      presenceStartSession(visitorid, invokeparams, joinparams) {
        return presenceStartSession(visitorid, invokeparams, joinparams);
      },

      presenceDisconnect() {
        presenceDisconnect();
      },
    };
    try { win.addEventListener('message', onMessage); } catch (e) { /* no message events */ }
    return A;
  }

  if (W && W.document) {
    try { install(W); } catch (e) { /* never break the page */ }
  } else if (typeof module == 'object' && module && module.exports) {
    module.exports = { install, SCHEDULE };
  }
})(typeof window != 'undefined' ? window : null);
