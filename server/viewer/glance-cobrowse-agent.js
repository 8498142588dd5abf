// GLANCE.Cobrowse.Agent: the agent-side API of a page (console, CRM) that embeds the cobrowse
// viewer (/agentjoin/AgentView.aspx) in an <iframe>. Served at /agent/glance-cobrowse-agent.js.
//
//   <script src="https://SESSION-SERVER/agent/glance-cobrowse-agent.js"></script>
//   GLANCE.Cobrowse.Agent.init(document.getElementById('viewer'));
//   GLANCE.Cobrowse.Agent.addEventListener('rc', (data) => { ... });
//
// Transport (docs/PROTOCOL.md, "Viewer <-> embedding page"): the viewer posts
// {glance_agent: {event, data}} to this page; this script accepts them only from the init()ed
// frame's window at the viewer's origin, and sends {glance_agent_cmd: {fn, args}} to that window
// at that origin only (never "*"). Listener exceptions are caught and logged. Only GLANCE is
// added to window; an existing GLANCE / GLANCE.Cobrowse is extended, never replaced.
(function () {
  'use strict';

  var G = (window.GLANCE = window.GLANCE || {});
  G.Cobrowse = G.Cobrowse || {};
  if (G.Cobrowse.Agent && G.Cobrowse.Agent.__glanceAgentApi) return; // loaded twice

  // The origin this script was served from: the viewer's, unless the frame's src says otherwise.
  var scriptOrigin = null;
  try {
    if (document.currentScript && document.currentScript.src) {
      scriptOrigin = new URL(document.currentScript.src, location.href).origin;
    }
  } catch (e) { /* ignore */ }

  var frame = null;          // the viewer <iframe>
  var frameOrigin = null;    // its origin
  var listeners = {};        // lowercased event name -> [fn]
  var msgListeners = {};     // message name -> [fn]
  var states = {};           // lowercased event name -> latest data
  var userState = {};        // name -> value
  var a11y = false;          // the session's accessibility features (the `accessibility` event)

  function warn(text) {
    try { console.warn('GLANCE.Cobrowse.Agent: ' + text); } catch (e) { /* no console */ }
  }

  function copy(v) {
    if (v === undefined) return undefined;
    try { return JSON.parse(JSON.stringify(v)); } catch (e) { return v; }
  }

  function httpOrigin(url) {
    try {
      var u = new URL(url, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
    } catch (e) {
      return null;
    }
  }

  function isPlainObject(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    var p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
  }

  function call(fns, args) {
    for (var i = 0; i < fns.length; i++) {
      try {
        fns[i].apply(null, args);
      } catch (e) {
        try { console.error('GLANCE.Cobrowse.Agent: a listener threw', e); } catch (e2) { /* ignore */ }
      }
    }
  }

  function fire(name, data) {
    call((listeners[name] || []).slice(), [copy(data)]);
  }

  /** Posts a command to the viewer; false when there is no viewer to post to. */
  function command(fn, args) {
    if (!frame || !frameOrigin || !frame.contentWindow) {
      warn(fn + ': call init(viewerFrame) first');
      return false;
    }
    try {
      frame.contentWindow.postMessage({ glance_agent_cmd: { fn: fn, args: args } }, frameOrigin);
      return true;
    } catch (e) {
      warn(fn + ': ' + (e && e.message));
      return false;
    }
  }

  function record(name, data) {
    states[name] = data;
    if (name === 'accessibility') a11y = !!data && data.enabled === true;
    if (name === 'userstate' && data && typeof data.name === 'string') {
      if (data.value === null || data.value === undefined) delete userState[data.name];
      else userState[data.name] = data.value;
    }
  }

  function onMessage(e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== frameOrigin) return;
    var m = e.data && typeof e.data === 'object' ? e.data.glance_agent : null;
    if (!m || typeof m !== 'object' || typeof m.event !== 'string') return;
    var name = m.event.toLowerCase();
    var data = m.data && typeof m.data === 'object' ? m.data : {};
    if (name === 'state') {
      // The viewer's latest event data (asked for by init): stored, not fired.
      var ev = data.events && typeof data.events === 'object' ? data.events : {};
      for (var k in ev) {
        if (Object.prototype.hasOwnProperty.call(ev, k) && !Object.prototype.hasOwnProperty.call(states, k.toLowerCase())) {
          record(k.toLowerCase(), ev[k]);
        }
      }
      return;
    }
    record(name, data);
    if (name === 'sessionmessage' && typeof data.name === 'string') {
      call((msgListeners[data.name] || []).slice(), [data.name, copy(data.data)]);
    }
    fire(name, data);
  }
  window.addEventListener('message', onMessage);

  var Agent = {
    __glanceAgentApi: true,

    /** Connects the API to the viewer iframe (an element or its id). */
    init: function (viewerFrame) {
      var el = typeof viewerFrame === 'string' ? document.getElementById(viewerFrame) : viewerFrame;
      if (!el || !el.tagName || el.tagName.toLowerCase() !== 'iframe') {
        throw new TypeError('GLANCE.Cobrowse.Agent.init: viewerFrame must be an <iframe>');
      }
      frame = el;
      frameOrigin = (el.src && httpOrigin(el.src)) || scriptOrigin;
      states = {};
      userState = {};
      a11y = false;
      // Ask for what the viewer already reported, in case it loaded before init().
      command('getState', []);
      el.addEventListener('load', function () {
        if (frame === el) {
          frameOrigin = (el.src && httpOrigin(el.src)) || scriptOrigin;
          command('getState', []);
        }
      });
    },

    addEventListener: function (name, fn) {
      if (typeof name !== 'string' || typeof fn !== 'function') return;
      var k = name.toLowerCase();
      var l = listeners[k] || (listeners[k] = []);
      if (l.indexOf(fn) < 0) l.push(fn);
    },

    removeEventListener: function (name, fn) {
      if (typeof name !== 'string') return;
      var l = listeners[name.toLowerCase()] || [];
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    },

    /** fn(msgName, msg) for each session message msgName from the visitor. */
    addSessionMessageListener: function (msgName, fn) {
      if (typeof msgName !== 'string' || typeof fn !== 'function') return;
      var l = msgListeners[msgName] || (msgListeners[msgName] = []);
      if (l.indexOf(fn) < 0) l.push(fn);
    },

    removeSessionMessageListener: function (msgName, fn) {
      var l = msgListeners[msgName] || [];
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    },

    /** Sends msg (a plain object) to the visitor; anything else throws a TypeError. */
    sendSessionMessage: function (msgName, msg) {
      if (typeof msgName !== 'string' || !msgName || msgName.length > 64) {
        throw new TypeError('sendSessionMessage: msgName must be a string of 1 to 64 characters');
      }
      if (!isPlainObject(msg)) throw new TypeError('sendSessionMessage: msg must be an object');
      var data;
      try {
        data = JSON.parse(JSON.stringify(msg));
      } catch (e) {
        throw new TypeError('sendSessionMessage: msg must be JSON-serializable');
      }
      return command('sendSessionMessage', [msgName, data]);
    },

    /** Sends the visitor to options.url (relative, absolute, "back", "forward", "refresh"). */
    navigate: function (options) {
      if (typeof options === 'string') options = { url: options };
      if (!isPlainObject(options) || typeof options.url !== 'string' || !options.url) {
        throw new TypeError('navigate: options.url must be a string');
      }
      return command('navigate', [{ url: options.url, confirm: !!options.confirm, open: !!options.open, link: !!options.link }]);
    },

    /** The viewer leaves the session, then shows targetUrl (http(s) only). */
    leaveSession: function (targetUrl) {
      var t = null;
      if (targetUrl !== undefined && targetUrl !== null && targetUrl !== '') {
        var u;
        try { u = new URL(String(targetUrl), location.href); } catch (e) { u = null; }
        if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
          throw new TypeError('leaveSession: targetUrl must be an http(s) URL');
        }
        t = u.href;
      }
      return command('leaveSession', t ? [t] : []);
    },

    requestRC: function (on) {
      return command('requestRC', [on === undefined ? true : !!on]);
    },

    /** The data of the latest `eventname` event (e.g. "rc"), or undefined. */
    getSessionState: function (eventname) {
      if (typeof eventname !== 'string') return undefined;
      return copy(states[eventname.toLowerCase()]);
    },

    getUserState: function (name) {
      return Object.prototype.hasOwnProperty.call(userState, name) ? copy(userState[name]) : undefined;
    },

    /**
     * Turns the visitor's accessibility features on or off for the session (the visitor's screen
     * reader reads what the agent highlights). accessibilityEnabled() follows once the session
     * confirms it (the `accessibility` event).
     */
    enableAccessibility: function (enable) {
      return command('enableAccessibility', [enable === undefined ? true : !!enable]);
    },

    /** The session's accessibility state, as the viewer last reported it. */
    accessibilityEnabled: function () {
      return a11y;
    },
  };

  G.Cobrowse.Agent = Agent;
})();
