// Agent viewer: joins /ws/agent and renders a live mirror of the visitor's page.
//
// The mirror document lives in <iframe id="glance-mirror" sandbox="allow-same-origin"> (never
// allow-scripts) and is built NODE BY NODE with DOM APIs from the snapshot / diff records of
// docs/PROTOCOL.md: no innerHTML, no document.write, no HTML parser ever sees stream content, so
// invalid nesting survives exactly as the visitor has it. The stream is not trusted: every
// attribute goes through sanitizeAttr() (event handlers, script URLs, srcdoc, meta refresh, base,
// frame/object sources, non-stylesheet links are dropped), and the page's CSP (sent by the server)
// forbids any script but this file.
//
// The agent side (docs/PROTOCOL.md, "Agents"): authentication (join ticket, login key posted to
// /api/agent/auth, the glance_agent cookie, else a login form), the visitor's pointer (`vptr`),
// the agent's pointer (`ptr`), remote control (the `rc` button; clicks / typing in the mirror
// become `act` frames naming mirror gids; masked and password fields are refused here), the
// Highlight tool (`gesture`), the "Screen reader" switch (`a11y`), "Send visitor to" (`nav`), and
// the events / commands exchanged with an embedding page (GLANCE.Cobrowse.Agent,
// glance-cobrowse-agent.js) or the GLANCE.Agent opener.
// The mirror never runs script: the listeners below run in this realm on the mirror documents
// and cancel every default action (links never navigate the viewer).
//
// Tests read window.glanceViewer = { key, page, seq, snapshots, state, ... } and
// document.body.dataset.state (waiting|active|away|paused|ended|notfound|left).
// window.glanceViewer is also the agent side's session API (the product's GLANCE.Cobrowse.Agent
// methods of the same names): sendSessionMessage(name, msg), addSessionMessageListener(name, fn),
// removeSessionMessageListener(name, fn), getUserState(name), pause(bool).
(function () {
  'use strict';

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const MATH_NS = 'http://www.w3.org/1998/Math/MathML';
  const XLINK_NS = 'http://www.w3.org/1999/xlink';
  const XML_NS = 'http://www.w3.org/XML/1998/namespace';
  const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

  const KIND_ELEMENT = 1;
  const KIND_TEXT = 3;
  const KIND_COMMENT = 8;
  const KIND_DOCTYPE = 10;
  // Content roots: a same-origin iframe's document and an open shadow root. Their records come
  // first among their host's children; the mirror attaches them (iframe content document,
  // attachShadow) instead of appending them.
  const KIND_DOCUMENT = 9;
  const KIND_SHADOW = 11;

  // Attributes a masked element keeps (src/mask.rs SAFE_ATTRS).
  const MASK_SAFE = new Set(['id', 'class', 'style', 'type', 'role', 'data-gid']);
  // Attributes holding a URL: checked for script schemes and resolved against the page base.
  const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'poster', 'background',
    'cite', 'data', 'xlink:href', 'longdesc', 'manifest', 'codebase', 'icon']);
  // Attributes that would act in the agent's browser (focus stealing, pings, sound).
  const DROP_ATTRS = new Set(['srcdoc', 'autofocus', 'ping', 'autoplay', 'nonce',
    'integrity', 'http-equiv']);
  // Elements that would load another document: shown as empty boxes.
  const FRAME_TAGS = new Set(['iframe', 'frame', 'object', 'embed', 'applet', 'portal', 'fencedframe']);
  const FRAME_SRC_ATTRS = new Set(['src', 'data', 'srcdoc', 'codebase', 'classid', 'archive',
    'code', 'movie']);
  const INLINE_TAGS = 'span,a,b,i,em,strong,small,label,code,abbr,cite,q,s,u,sub,sup,mark,time,' +
    'var,kbd,samp,bdi,bdo,data,output,img,input,select,textarea,button,font,big,tt,meter,progress';

  const MIRROR_CSS =
    '[data-glance-masked]{background:repeating-linear-gradient(135deg,#c5cbd0 0 6px,#e3e7ea 6px 12px)' +
    ' !important;color:transparent !important;box-sizing:border-box !important;' +
    'overflow:hidden !important;border-radius:2px}' +
    '[data-glance-masked]::placeholder{color:transparent !important}' +
    '[data-glance-masked]:is(' + INLINE_TAGS + '){display:inline-block !important;' +
    'vertical-align:middle}' +
    // Pseudo-element text (CSS `content:`) of a masked element stays hidden too.
    '[data-glance-masked]::before,[data-glance-masked]::after{content:none !important}' +
    '[data-glance-frame=placeholder],object,embed{background:#eceff1 !important;outline:1px dashed #90a4ae}' +
    // Scripting is off in the mirror: a <canvas> is not a replaced element there (its picture
    // is painted as a background, see setCanvas) and <noscript> content would show.
    ':where(canvas){display:inline-block;width:attr(width px,300px);height:attr(height px,150px)}' +
    'canvas>*,noscript{display:none !important}' +
    // ...and Chromium forces native controls on a video: only those the visitor has show.
    'video:not([controls])::-webkit-media-controls{display:none !important}' +

    // Scroll positions come from the visitor; the mirror must not adjust them by itself.
    '*{overflow-anchor:none !important}';

  const RESYNC_RETRY_MS = 3000;

  // ---------------------------------------------------------------------------------------
  // Query parameters (case-insensitive names, like the product's viewer URL).

  const query = new URLSearchParams(location.search);
  function param(name) {
    const want = name.toLowerCase();
    for (const [k, v] of query) {
      if (k.toLowerCase() === want) return v;
    }
    return null;
  }
  const key = (param('SessionKey') || param('VisitorId') || param('key') || '').trim();
  const waitMode = param('wait') === '1' || param('wait') === 'true';
  const agentName = (param('name') || param('agentname') || 'Agent').slice(0, 64);
  const group = param('group') || param('groupid');
  // Authentication (docs/PROTOCOL.md, "Agents"): a join ticket, or a login key posted to
  // /api/agent/auth first, or else the glance_agent cookie (a login form when it is missing).
  const ticketParam = param('ticket');
  const loginKey = param('loginkey') && param('partnerid') && param('partneruserid')
    ? { partnerid: param('partnerid'), partneruserid: param('partneruserid'), loginkey: param('loginkey') }
    : null;
  const embedOriginParam = param('embedorigin');
  const openerOriginParam = param('origin');

  /** Removes the credentials from the address bar (and so from history and bookmarks). */
  function scrubAddress() {
    const drop = ['ticket', 'loginkey', 'partnerid', 'partneruserid'];
    const q = new URLSearchParams(location.search);
    let changed = false;
    for (const k of Array.from(q.keys())) {
      if (drop.includes(k.toLowerCase())) { q.delete(k); changed = true; }
    }
    if (!changed) return;
    const s = q.toString();
    try { history.replaceState(history.state, '', location.pathname + (s ? '?' + s : '') + location.hash); } catch (e) { /* ignore */ }
  }
  scrubAddress();

  // ---------------------------------------------------------------------------------------
  // Elements.

  const $ = (id) => document.getElementById(id);
  const frame = $('glance-mirror');
  const stage = $('glance-stage');
  const box = $('glance-frame-box');
  const ui = {
    key: $('glance-key'),
    url: $('glance-url'),
    browser: $('glance-browser'),
    state: $('glance-state'),
    viewport: $('glance-viewport'),
    scroll: $('glance-scroll'),
    conn: $('glance-conn'),
    overlay: $('glance-overlay-text'),
    title: $('glance-message-title'),
    text: $('glance-message-text'),
    leave: $('glance-leave'),
    end: $('glance-end'),
    pause: $('glance-pause'),
    agents: $('glance-agents'),
    rc: $('glance-rc'),
    rcStatus: $('glance-rc-status'),
    highlight: $('glance-highlight'),
    clear: $('glance-clear'),
    a11y: $('glance-a11y'),
    notice: $('glance-notice'),
    vptr: $('glance-vptr'),
    outline: $('glance-outline'),
    nav: $('glance-nav'),
    navUrl: $('glance-nav-url'),
    navConfirm: $('glance-nav-confirm'),
    loginForm: $('glance-login-form'),
    loginUser: $('glance-login-user'),
    loginPass: $('glance-login-pass'),
    loginError: $('glance-login-error'),
  };

  // ---------------------------------------------------------------------------------------
  // Viewer state.

  const S = {
    state: 'waiting',
    final: false,          // no more reconnects (ended, left, notfound without wait)
    ws: null,
    retries: 0,
    retryTimer: 0,
    frameLoaded: false,
    frameStandards: null,  // mode of the loaded mirror document
    frameWant: null,       // mode being loaded
    framePromise: null,
    doc: null,
    nodes: new Map(),      // gid -> Node
    page: null,
    seq: 0,
    base: '',
    url: '',
    title: '',
    ua: '',
    vw: 0,
    vh: 0,
    sx: 0,
    sy: 0,
    snapshots: 0,
    diffs: 0,
    resyncing: false,
    resyncAt: 0,
    scrollTimers: [],
    marks: new Map(),      // data-glance-focus / data-glance-hover -> the marked elements
    roots: new Set(),      // mirror shadow roots and frame documents (for refreshPseudo)
    pseudoDirty: false,
    sheetDocs: new Set(),  // documents holding instances of constructed sheets
    // Agents, authentication and remote control.
    token: null,           // bearer token from /api/agent/auth (login key or login form)
    ticket: ticketParam,   // single-use join ticket: used for the first connection only
    needLogin: false,      // the server refused our credentials: the login form is up
    you: null,             // {username, name, num} from the first session frame
    agents: null,          // {count, agentlist} (an agents frame, else [you])
    agentsFromServer: false,
    rc: { enabled: false, state: 'off', suspended: false },
    tool: '',              // '' or 'highlight'
    outlineGid: 0,
    vptr: null,            // the visitor's pointer {x, y} in page px, or null
    actId: 0,
    editing: null,         // {el, gid, dirty, at, remote} the field the agent is typing in
    connected: false,      // the `connected` event was posted
    sid: '',
    visitorversion: '',
    pagemasked: false,
    lastNavUrl: null,
    a11y: false,           // the session's accessibility features (the server's session.a11y)
  };
  const gidOf = new WeakMap();     // Node -> gid
  const actWaiters = new Map();    // act id -> resolve({ok, reason}) (glanceViewer.act)
  const maskSize = new WeakMap();  // masked Element -> [w, h]
  const linkHref = new WeakMap();  // <link> -> href as sent (kept while rel is not stylesheet)
  const rootOf = new WeakMap();    // host Element -> its content root (ShadowRoot or Document)
  const hostOf = new WeakMap();    // content root -> host Element
  const frameSrc = new WeakMap();  // mirror <iframe> -> the visitor's src (for the placeholder label)
  const mirrorFrames = new Set();  // mirror <iframe>/<frame> elements (content or placeholder)
  const sheets = new WeakMap();    // Document -> the mirror's constructed sheet for it
  const sheetText = new Map();     // constructed sheet id -> its CSS text (from the visitor)
  const sheetInst = new WeakMap(); // Document -> Map(sheet id -> CSSStyleSheet made in it)
  const adopted = new WeakMap();   // document / shadow root -> adopted sheet ids
  const canvasRule = new WeakMap(); // mirror <canvas> -> the rule painting its picture
  const pseudoSheet = new WeakMap(); // document / shadow root -> its :hover/:focus rules, rewritten

  // Session messages from the visitor (listeners by name) and the visitor's user state.
  const msgListeners = new Map();
  const userState = new Map();

  const pub = (window.glanceViewer = {
    key: key,
    page: null,
    seq: 0,
    snapshots: 0,
    diffs: 0,
    state: 'waiting',
    url: '',
    vw: 0,
    vh: 0,
    sx: 0,
    sy: 0,
    resyncing: false,
    name: agentName,
    /** Sends a session message to the visitor; `msg` must be an object (as the product's agent API). */
    sendSessionMessage(name, msg) {
      if (typeof name !== 'string' || !name) throw new TypeError('sendSessionMessage: name must be a non-empty string');
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
        throw new TypeError('sendSessionMessage: msg must be an object');
      }
      return send({ t: 'msg', name, data: msg });
    },
    /** `fn(name, msg)` for every session message `name` from the visitor. */
    addSessionMessageListener(name, fn) {
      if (typeof fn !== 'function') return;
      const l = msgListeners.get(name) || [];
      if (!l.includes(fn)) l.push(fn);
      msgListeners.set(name, l);
    },
    /**
     * Sends the action `{type, selector, value?, key?}` on the mirror element `selector` as is
     * (no local refusal: tests check the visitor's own checks); resolves to its `actres`
     * `{ok, reason}`, or `{ok:false, reason:'timeout'}` after 10 s.
     */
    act(a) {
      const doc = frame.contentDocument;
      const el = doc && doc.querySelector(a.selector);
      const gid = el && gidOf.get(el);
      if (gid === undefined || gid === null) return Promise.resolve({ ok: false, reason: 'nomirrorelement' });
      const f = { type: a.type, gid };
      if (a.value !== undefined) f.value = a.value;
      if (a.key !== undefined) f.key = a.key;
      const id = act(f);
      return new Promise((resolve) => {
        actWaiters.set(id, resolve);
        setTimeout(() => { if (actWaiters.delete(id)) resolve({ ok: false, reason: 'timeout' }); }, 10000);
      });
    },
    removeSessionMessageListener(name, fn) {
      const l = msgListeners.get(name) || [];
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    },
    /** The user state the visitor stored with setUserState(name, value), or undefined. */
    getUserState(name) {
      return userState.has(name) ? JSON.parse(JSON.stringify(userState.get(name))) : undefined;
    },
    /** Pauses (true) or resumes (false) the session for the visitor. */
    pause(paused) {
      return send({ t: 'pause', paused: paused === undefined || !!paused });
    },
  });

  function publish() {
    pub.page = S.page;
    pub.seq = S.seq;
    pub.snapshots = S.snapshots;
    pub.diffs = S.diffs;
    pub.state = S.state;
    pub.url = S.url;
    pub.vw = S.vw;
    pub.vh = S.vh;
    pub.sx = S.sx;
    pub.sy = S.sy;
    pub.resyncing = S.resyncing;
    pub.rc = Object.assign({}, S.rc);
    pub.a11y = S.a11y;
    pub.you = S.you;
    pub.agents = S.agents;
  }

  // ---------------------------------------------------------------------------------------
  // Header and states.

  function describeBrowser(ua) {
    if (!ua) return '\u2013';
    const pick = (re) => { const m = re.exec(ua); return m ? m[1].split('.')[0] : null; };
    let b = 'Unknown browser';
    let v;
    if ((v = pick(/Edg(?:e|A|iOS)?\/([\d.]+)/))) b = 'Edge ' + v;
    else if ((v = pick(/OPR\/([\d.]+)/))) b = 'Opera ' + v;
    else if ((v = pick(/SamsungBrowser\/([\d.]+)/))) b = 'Samsung Internet ' + v;
    else if ((v = pick(/Firefox\/([\d.]+)/)) || (v = pick(/FxiOS\/([\d.]+)/))) b = 'Firefox ' + v;
    else if ((v = pick(/(?:Chrome|CriOS)\/([\d.]+)/))) b = (/HeadlessChrome/.test(ua) ? 'Headless Chrome ' : 'Chrome ') + v;
    else if (/Safari\//.test(ua) && (v = pick(/Version\/([\d.]+)/))) b = 'Safari ' + v;
    let os = '';
    if (/Windows/.test(ua)) os = 'Windows';
    else if (/Android/.test(ua)) os = 'Android';
    else if (/iPhone|iPad|iPod/.test(ua)) os = 'iOS';
    else if (/Mac OS X|Macintosh/.test(ua)) os = 'macOS';
    else if (/CrOS/.test(ua)) os = 'ChromeOS';
    else if (/Linux/.test(ua)) os = 'Linux';
    return os ? b + ' on ' + os : b;
  }

  /** The product's `navigate` event form: `{name: "chrome", platform: "win", version: 120}`. */
  function parseBrowser(ua) {
    ua = String(ua || '');
    const pick = (re) => { const m = re.exec(ua); return m ? Number(m[1].split('.')[0]) || 0 : 0; };
    let name = 'unknown';
    let version = 0;
    if ((version = pick(/Edg(?:e|A|iOS)?\/([\d.]+)/))) name = 'edge';
    else if ((version = pick(/OPR\/([\d.]+)/))) name = 'opera';
    else if ((version = pick(/SamsungBrowser\/([\d.]+)/))) name = 'samsung';
    else if ((version = pick(/Firefox\/([\d.]+)/) || pick(/FxiOS\/([\d.]+)/))) name = 'firefox';
    else if ((version = pick(/(?:Chrome|CriOS)\/([\d.]+)/))) name = 'chrome';
    else if (/Safari\//.test(ua) && (version = pick(/Version\/([\d.]+)/))) name = 'safari';
    let platform = 'unknown';
    if (/Windows/.test(ua)) platform = 'win';
    else if (/Android/.test(ua)) platform = 'android';
    else if (/iPhone|iPad|iPod/.test(ua)) platform = 'ios';
    else if (/Mac OS X|Macintosh/.test(ua)) platform = 'mac';
    else if (/CrOS/.test(ua)) platform = 'chromeos';
    else if (/Linux/.test(ua)) platform = 'linux';
    return { name, platform, version };
  }

  function round(n) { return Math.round(Number(n) || 0); }

  function agentLabel(a) {
    const n = a && (a.name || a.username) ? String(a.name || a.username) : 'Agent';
    return S.you && a && a.num === S.you.num ? n + ' (you)' : n;
  }

  function renderHeader() {
    ui.key.textContent = key || '\u2013';
    ui.url.textContent = S.url || '\u2013';
    ui.url.title = S.title ? S.title + '\n' + S.url : S.url;
    ui.browser.textContent = describeBrowser(S.ua);
    ui.browser.title = S.ua || '';
    ui.state.textContent = S.resyncing ? S.state + ' (resyncing)' : S.state;
    ui.viewport.textContent = S.vw && S.vh ? round(S.vw) + ' \u00d7 ' + round(S.vh) : '\u2013';
    ui.scroll.textContent = S.page ? round(S.sx) + ', ' + round(S.sy) : '\u2013';
    const list = S.agents && Array.isArray(S.agents.agentlist) ? S.agents.agentlist : [];
    ui.agents.textContent = list.length ? list.map(agentLabel).join(', ')
      : S.agents && S.agents.count ? String(S.agents.count) : '\u2013';
    document.title = 'Session ' + (key || '?') + (S.title ? ' \u2013 ' + S.title : '');
  }

  const OVERLAY = {
    away: 'Visitor is on a page without cobrowse',
    paused: 'Session paused',
  };

  function renderOverlay() {
    let sync = '';
    let text = OVERLAY[S.state] || '';
    if (!text && S.state === 'active') {
      if (S.disconnected) { sync = 'resyncing'; text = 'Connection lost: reconnecting\u2026'; } else if (S.resyncing) { sync = 'resyncing'; text = 'Resynchronizing\u2026'; }
      else if (!S.page) { sync = 'loading'; text = 'Loading the visitor\u2019s page\u2026'; }
    }
    if (sync) document.body.dataset.sync = sync;
    else delete document.body.dataset.sync;
    ui.overlay.textContent = text;
  }

  function showMessage(title, text) {
    ui.title.textContent = title;
    ui.text.textContent = text || '';
  }

  function setState(state) {
    S.state = state;
    document.body.dataset.state = state;
    ui.pause.textContent = state === 'paused' ? 'Resume' : 'Pause';
    const live = state === 'active' || state === 'away' || state === 'paused';
    for (const el of document.querySelectorAll('#glance-tools button, #glance-tools input')) el.disabled = !live;
    if (!live && S.tool) setTool('');
    renderOverlay();
    renderHeader();
    publish();
  }

  function setConn(text) { ui.conn.textContent = text; }

  // ---------------------------------------------------------------------------------------
  // Layout: the iframe has the visitor's viewport size and is scaled to fit the stage.

  function layout() {
    const vw = S.vw > 0 ? S.vw : 1280;
    const vh = S.vh > 0 ? S.vh : 720;
    const aw = Math.max(stage.clientWidth - 16, 50);
    const ah = Math.max(stage.clientHeight - 16, 50);
    const scale = Math.min(aw / vw, ah / vh, 1);
    frame.style.width = vw + 'px';
    frame.style.height = vh + 'px';
    frame.style.transform = 'scale(' + scale + ')';
    box.style.width = vw * scale + 'px';
    box.style.height = vh * scale + 'px';
    box.style.left = Math.max((stage.clientWidth - vw * scale) / 2, 0) + 'px';
    box.style.top = Math.max((stage.clientHeight - vh * scale) / 2, 0) + 'px';
    box.dataset.scale = String(scale);
    renderMarks();
  }
  window.addEventListener('resize', layout);

  // ---------------------------------------------------------------------------------------
  // The mirror document.

  /** (Re)loads the iframe with an empty document of the wanted mode and resolves when ready. */
  function loadFrame(standards) {
    return new Promise((resolve) => {
      S.frameLoaded = false;
      const done = () => {
        S.frameLoaded = true;
        S.frameStandards = standards;
        S.doc = frame.contentDocument;
        adoptSheet(S.doc);
        hookDoc(S.doc);
        toolCursor();
        resolve(S.doc);
      };
      frame.addEventListener('load', done, { once: true });
      if (standards) {
        // Our own fixed markup, never stream content: an empty no-quirks document.
        frame.srcdoc = '<!DOCTYPE html><title>mirror</title>';
      } else {
        frame.removeAttribute('srcdoc');
        frame.src = 'about:blank';
      }
    });
  }

  /** The mirror document in the wanted mode (no-quirks when the page has a doctype). */
  async function prepareFrame(standards) {
    if (S.framePromise && S.frameWant === standards) {
      await S.framePromise;
      if (S.frameLoaded && frame.contentDocument === S.doc) return S.doc;
    }
    S.frameWant = standards;
    S.framePromise = loadFrame(standards);
    return S.framePromise;
  }

  /** Gives `root` (a mirror document or shadow root) the mirror's own CSS (masks, frames). */
  function adoptSheet(root) {
    try {
      const doc = root.nodeType === 9 ? root : root.ownerDocument;
      let sheet = sheets.get(doc);
      if (!sheet) {
        sheet = new doc.defaultView.CSSStyleSheet();
        sheet.replaceSync(MIRROR_CSS);
        sheets.set(doc, sheet);
      }
      const ids = adopted.get(root) || [];
      const list = ids.map((id) => sheetIn(doc, id)).filter(Boolean).concat([sheet]);
      if (pseudoSheet.has(root)) list.push(pseudoSheet.get(root));
      root.adoptedStyleSheets = list;
    } catch (e) {
      if (root === S.doc) console.warn('glance viewer: adoptedStyleSheets unavailable', e);
    }
  }

  /**
   * The content root of record `r` (kind 9 or 11) for `host`. A shadow root is attached (or the
   * existing one emptied); a frame document is built in a detached holder document and moved into
   * the iframe once the iframe has its own (see mountFrames).
   */
  function makeRoot(r, host) {
    if (!isElement(host) || maskSize.has(host)) throw new Error('root ' + r[0] + ' without a host element');
    let root;
    if (r[2] === KIND_SHADOW) {
      root = host.shadowRoot;
      if (root) {
        while (root.firstChild) forget(root.firstChild);
      } else {
        try { root = host.attachShadow({ mode: 'open' }); } catch (e) {
          throw new Error('<' + host.localName + '> cannot host a shadow root');
        }
      }
    } else {
      if (!mirrorFrames.has(host)) throw new Error('a document under <' + host.localName + '>');
      root = document.implementation.createHTMLDocument('');
      root.replaceChildren();
    }
    const old = rootOf.get(host);
    if (old && old !== root) forgetRoot(host);
    rootOf.set(host, root);
    hostOf.set(root, host);
    gidOf.set(root, Number(r[0]));
    S.roots.add(root);
    S.pseudoDirty = true;
    return root;
  }

  /** The constructed sheet `id` made in `doc` (sheets cannot be shared across documents). */
  function sheetIn(doc, id) {
    if (!sheetText.has(id)) return null;
    let m = sheetInst.get(doc);
    if (!m) sheetInst.set(doc, (m = new Map()));
    S.sheetDocs.add(doc);
    let sh = m.get(id);
    if (!sh) {
      try { sh = new doc.defaultView.CSSStyleSheet(); } catch (e) { return null; }
      try { sh.replaceSync(sheetText.get(id)); } catch (e) { /* unparsable: empty */ }
      m.set(id, sh);
    }
    return sh;
  }

  /** Replaces the rules of a mirror `<style>` with `text` (parsed by a scratch sheet). */
  function setStyleRules(el, text) {
    const sheet = el.sheet;
    if (!sheet) return;
    let parsed;
    try {
      parsed = new (el.ownerDocument.defaultView || window).CSSStyleSheet();
      parsed.replaceSync(String(text));
    } catch (e) { return; }
    while (sheet.cssRules.length) sheet.deleteRule(sheet.cssRules.length - 1);
    for (const r of Array.from(parsed.cssRules)) {
      try { sheet.insertRule(r.cssText, sheet.cssRules.length); } catch (e) { /* skipped rule */ }
    }
  }

  /** The composed parent in the mirror (through shadow hosts and frames). */
  function upOf(n) {
    return n.parentNode && n.parentNode.nodeType !== 9 ? n.parentNode
      : n.nodeType === 11 ? n.host : hostOf.get(n.nodeType === 9 ? n : n.parentNode) || null;
  }

  /**
   * Marks the visitor's focused or hovered element: `attr` on it, `chainAttr` on its ancestors
   * (hover applies to every ancestor; focus-within too). The page's :hover / :focus rules are
   * rewritten to these attributes (see refreshPseudo).
   */
  function mark(attr, chainAttr, gid) {
    for (const el of S.marks.get(attr) || []) {
      rawRemove(el, attr);
      if (chainAttr !== attr) rawRemove(el, chainAttr);
    }
    const list = [];
    const el = gid ? S.nodes.get(gid) : null;
    if (el && el.nodeType === 1) {
      rawSet(el, attr, '');
      list.push(el);
      for (let a = upOf(el); a; a = upOf(a)) {
        if (a.nodeType !== 1) continue;
        rawSet(a, chainAttr, '');
        list.push(a);
      }
    }
    S.marks.set(attr, list);
  }

  /** `selector` with the visitor-state pseudo-classes as mirror attributes. */
  function pseudoSelector(sel) {
    return sel.replace(/:hover\b/g, '[data-glance-hover]')
      .replace(/:focus-within\b/g, '[data-glance-focus-within]')
      .replace(/:focus(?:-visible)?\b/g, '[data-glance-focus]');
  }

  /** The rules of `rules` that use :hover / :focus, rewritten (media/supports blocks kept). */
  function pseudoRules(rules, depth) {
    let out = '';
    for (const r of Array.from(rules)) {
      if (r.selectorText !== undefined && r.style) {
        if (/:hover|:focus/.test(r.selectorText)) out += pseudoSelector(r.selectorText) + '{' + r.style.cssText + '}';
      } else if (r.cssRules && r.conditionText !== undefined && depth < 8) {
        const inner = pseudoRules(r.cssRules, depth + 1);
        const at = r.constructor && r.constructor.name === 'CSSSupportsRule' ? '@supports ' : '@media ';
        if (inner) out += at + r.conditionText + '{' + inner + '}';
      }
    }
    return out;
  }

  /** Rebuilds, for each mirror document and shadow root, its rewritten :hover / :focus rules. */
  function refreshPseudo() {
    S.pseudoDirty = false;
    const roots = [S.doc];
    for (const r of S.roots) if (r.isConnected !== false && (r.nodeType === 9 ? hostOf.has(r) : r.host && r.host.isConnected)) roots.push(r);
    for (const root of roots) {
      if (!root) continue;
      let text = '';
      const doc = root.nodeType === 9 ? root : root.ownerDocument;
      for (const sh of Array.from(root.styleSheets || [])) {
        try { text += pseudoRules(sh.cssRules, 0); } catch (e) { /* cross-origin sheet */ }
      }
      for (const id of adopted.get(root) || []) {
        const sh = sheetIn(doc, id);
        if (sh) text += pseudoRules(sh.cssRules, 0);
      }
      if (!text && !pseudoSheet.has(root)) continue;
      try {
        let sh = pseudoSheet.get(root);
        if (!sh) { sh = new doc.defaultView.CSSStyleSheet(); pseudoSheet.set(root, sh); }
        sh.replaceSync(text);
        adoptSheet(root);
      } catch (e) { /* a document without a window */ }
    }
  }

  /** Applies the visitor's playback state (muted in the agent's browser, always). */
  function setMedia(el, paused, time, rate) {
    if (!el || (el.localName !== 'video' && el.localName !== 'audio')) return;
    try {
      el.muted = true;
      if (Number.isFinite(rate) && rate > 0) el.playbackRate = rate;
      if (Number.isFinite(time) && Math.abs(el.currentTime - time) > 0.5) el.currentTime = time;
      if (paused) el.pause(); else { const p = el.play(); if (p && p.catch) p.catch(() => {}); }
    } catch (e) { /* no media source in the mirror */ }
  }

  /**
   * Shows a canvas picture: a rule of the mirror's own sheet paints it as the canvas's background
   * (the DOM stays as the visitor's; scripting is off, so the canvas itself cannot be drawn).
   */
  function setCanvas(el, url) {
    if (!el || el.localName !== 'canvas' || !/^data:image\/[a-z+.-]+;base64,[A-Za-z0-9+/=]*$/i.test(url)) return;
    adoptSheet(el.ownerDocument);
    const sheet = sheets.get(el.ownerDocument);
    if (!sheet) return;
    const old = canvasRule.get(el);
    if (old) {
      const i = Array.prototype.indexOf.call(sheet.cssRules, old);
      if (i >= 0) sheet.deleteRule(i);
    }
    const gid = gidOf.get(el);
    try {
      const i = sheet.insertRule('canvas[data-gid="' + gid + '"]{background:url("' + url + '") 0 0/100% 100% no-repeat !important}', sheet.cssRules.length);
      canvasRule.set(el, sheet.cssRules[i]);
    } catch (e) { /* refused */ }
  }

  function setTop(el, open, modal) {
    if (!el || el.nodeType !== 1) return;
    try {
      if (el.localName === 'dialog') {
        if (!open) {
          // A modal dialog whose `open` attribute went first stays in the top layer: close it.
          if (!el.open && el.matches(':modal')) rawSet(el, 'open', '');
          if (el.open) el.close();
          return;
        }
        if (modal && !el.matches(':modal')) { if (el.open) el.close(); el.showModal(); }
        else if (!modal && !el.open) el.show();
      } else if (el.hasAttribute('popover')) {
        const shown = el.matches(':popover-open');
        if (open && !shown) el.showPopover();
        else if (!open && shown) el.hidePopover();
      }
    } catch (e) { /* not in the document yet */ }
  }

  /** Drops the content root of `host` and everything in it. */
  function forgetRoot(host) {
    const root = rootOf.get(host);
    if (!root) return;
    rootOf.delete(host);
    const g = gidOf.get(root);
    if (g !== undefined && S.nodes.get(g) === root) S.nodes.delete(g);
    while (root.firstChild) forget(root.firstChild);
  }

  /**
   * Moves each frame's content into its iframe's live document (an iframe gets a new empty
   * document whenever it is inserted or moved), and labels frames whose content is not shared.
   */
  function mountFrames() {
    for (const el of mirrorFrames) {
      if (!el.isConnected) {
        if (!S.nodes.has(gidOf.get(el))) mirrorFrames.delete(el);
        continue;
      }
      const root = rootOf.get(el);
      const cd = el.contentDocument;
      if (!root) {
        placeholder(el, cd);
        continue;
      }
      if (!cd) continue;
      hookDoc(cd);
      rawRemove(el, 'data-glance-frame');
      if (root === cd) continue;
      cd.replaceChildren();
      while (root.firstChild) cd.appendChild(root.firstChild);
      const g = gidOf.get(root);
      S.nodes.set(g, cd);
      gidOf.set(cd, g);
      if (adopted.has(root)) adopted.set(cd, adopted.get(root));
      S.roots.delete(root);
      S.roots.add(cd);
      S.pseudoDirty = true;
      rootOf.set(el, cd);
      hostOf.set(cd, el);
      adoptSheet(cd);
      styleShadows(cd);
    }
  }

  /** Gives every shadow root under `top` the mirror CSS (they do not inherit the document's). */
  function styleShadows(top) {
    const walker = [top];
    while (walker.length) {
      const n = walker.pop();
      if (n.nodeType === 1 && n.shadowRoot && hostOf.get(n.shadowRoot) === n) {
        adoptSheet(n.shadowRoot);
        walker.push(n.shadowRoot);
      }
      for (let c = n.firstElementChild; c; c = c.nextElementSibling) walker.push(c);
    }
  }

  function placeholder(el, cd) {
    if (el.getAttribute('data-glance-frame') === 'placeholder') return;
    rawSet(el, 'data-glance-frame', 'placeholder');
    if (!cd) return; // a sandboxed frame: an empty labelled box
    try {
      const src = frameSrc.get(el);
      let where = '';
      try { where = src ? new URL(src, S.base).origin : ''; } catch (e) { where = ''; }
      const p = cd.createElement('p');
      p.textContent = 'Embedded content not shared' + (where && where !== 'null' ? ' (' + where + ')' : '');
      p.setAttribute('style', 'font:13px sans-serif;color:#546e7a;margin:8px');
      cd.replaceChildren();
      cd.appendChild(cd.createElement('html')).appendChild(cd.createElement('body')).appendChild(p);
    } catch (e) { /* an empty box then */ }
  }

  function clearMirror() {
    for (const t of S.scrollTimers) clearTimeout(t);
    S.scrollTimers = [];
    S.nodes.clear();
    mirrorFrames.clear();
    S.marks.clear();
    S.roots.clear();
    sheetText.clear();
    S.sheetDocs.clear();
    if (S.doc) {
      try { S.doc.replaceChildren(); } catch (e) { /* keep going */ }
    }
  }

  function isElement(n) { return n && n.nodeType === 1; }
  /** An element or a content root: what may have children in the mirror. */
  function isContainer(n) { return n && (n.nodeType === 1 || hostOf.has(n)); }
  const isRootKind = (k) => k === KIND_DOCUMENT || k === KIND_SHADOW;

  function dangerousUrl(value) {
    // Browsers ignore ASCII whitespace and control characters inside a scheme.
    // eslint-disable-next-line no-control-regex
    const s = String(value).replace(/[\u0000-\u0020\u007f-\u009f]/g, '').toLowerCase();
    return s.startsWith('javascript:') || s.startsWith('vbscript:') || s.startsWith('livescript:') ||
      s.startsWith('data:text/html') || s.startsWith('data:application/xhtml') ||
      s.startsWith('data:text/xml') || s.startsWith('data:application/xml');
  }

  function absolute(value) {
    const v = String(value);
    if (!S.base || v === '' || v.startsWith('#')) return v;
    try { return new URL(v, S.base).href; } catch (e) { return v; }
  }

  function absoluteSrcset(value) {
    if (!S.base) return value;
    return String(value).split(',').map((part) => {
      const m = /^(\s*)(\S+)(.*)$/.exec(part);
      if (!m) return part;
      if (dangerousUrl(m[2])) return '';
      return m[1] + absolute(m[2]) + m[3];
    }).filter((p) => p.trim() !== '').join(',');
  }

  /** The value to set for `name` on `el`, or null to drop the attribute. */
  function sanitizeAttr(el, name, value) {
    const lname = String(name).toLowerCase();
    const tag = el.localName.toLowerCase();
    let v = value == null ? '' : String(value);
    if (lname.startsWith('on') || DROP_ATTRS.has(lname)) return null;
    if (tag === 'base') return null;
    if (tag === 'script' && lname !== 'type') return null;
    if (FRAME_TAGS.has(tag) && FRAME_SRC_ATTRS.has(lname)) {
      if (lname === 'src') frameSrc.set(el, v);
      return null;
    }
    // Any attribute whose value is a script URL (also SVG <animate to=...>, <set>).
    if (dangerousUrl(v)) return null;
    if (URL_ATTRS.has(lname)) v = absolute(v);
    else if (lname === 'srcset' || lname === 'imagesrcset') v = absoluteSrcset(v);
    return v;
  }

  function rawSet(el, name, v) {
    try {
      if (name.startsWith('xlink:')) el.setAttributeNS(XLINK_NS, name, v);
      else if (name === 'xmlns' || name.startsWith('xmlns:')) el.setAttributeNS(XMLNS_NS, name, v);
      else if (name.startsWith('xml:')) el.setAttributeNS(XML_NS, name, v);
      else el.setAttribute(name, v);
    } catch (e) {
      // A name the DOM refuses (e.g. "@click"): skipped.
    }
  }

  function rawRemove(el, name) {
    try { el.removeAttribute(name); } catch (e) { /* ignore */ }
  }

  /** <link>: only stylesheets keep an href (no preload, prefetch, icons, imports...). */
  function fixLink(el) {
    const href = linkHref.get(el);
    const rel = (el.getAttribute('rel') || '').toLowerCase().split(/\s+/);
    if (href != null && rel.includes('stylesheet') && !dangerousUrl(href)) {
      rawSet(el, 'href', absolute(href));
    } else {
      rawRemove(el, 'href');
    }
  }

  function setAttr(el, name, value) {
    name = String(name);
    if (el.localName === 'link' && el.namespaceURI !== SVG_NS && name.toLowerCase() === 'href') {
      if (value == null) linkHref.delete(el);
      else linkHref.set(el, String(value));
      fixLink(el);
      return;
    }
    if (value == null) {
      rawRemove(el, name);
    } else {
      const v = sanitizeAttr(el, name, value);
      if (v == null) rawRemove(el, name);
      else rawSet(el, name, v);
    }
    if (el.localName === 'link' && name.toLowerCase() === 'rel') fixLink(el);
    if (name.toLowerCase() === 'style' && maskSize.has(el)) paintMask(el);
  }

  function paintMask(el) {
    const size = maskSize.get(el);
    if (!size || !el.style) return;
    el.style.setProperty('width', (Number(size[0]) || 0) + 'px', 'important');
    el.style.setProperty('height', (Number(size[1]) || 0) + 'px', 'important');
  }

  function mask(el, w, h) {
    maskSize.set(el, [w, h]);
    rawSet(el, 'data-glance-masked', '');
    paintMask(el);
  }

  function makeElement(doc, tag, attrs, opts) {
    tag = String(tag);
    const ns = opts && opts.ns;
    let el;
    try {
      if (ns === 'svg') el = doc.createElementNS(SVG_NS, tag);
      else if (ns === 'math') el = doc.createElementNS(MATH_NS, tag);
      else el = doc.createElement(tag);
    } catch (e) {
      el = doc.createElement('span');
      rawSet(el, 'data-glance-tag', tag.slice(0, 64));
    }
    if (Array.isArray(attrs)) {
      for (let i = 0; i + 1 < attrs.length; i += 2) {
        const name = String(attrs[i]);
        if (opts && opts.m && !MASK_SAFE.has(name)) continue;
        setAttr(el, name, attrs[i + 1]);
      }
    }
    if (opts && Array.isArray(opts.m)) mask(el, opts.m[0], opts.m[1]);
    if (el.localName === 'iframe' || el.localName === 'frame') mirrorFrames.add(el);
    return el;
  }

  /**
   * Wire records are `[gidDelta, depth, kind, ...]`: a record's gid is the previous one's plus
   * its delta, and its parent is the element at `depth - 1` on the preorder path below `base`
   * (depth 1: a child of `base`). Returns `[gid, parent, kind, ...]` arrays.
   */
  function resolveRecords(records, base) {
    if (!Array.isArray(records)) throw new Error('records must be an array');
    const out = new Array(records.length);
    const stack = [base];
    let prev = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (!Array.isArray(r) || r.length < 4) throw new Error('bad record');
      const gid = prev + Number(r[0]);
      const depth = Number(r[1]);
      if (!Number.isInteger(gid) || gid <= 0 || gid > 0xffffffff) throw new Error('bad gid');
      if (!Number.isInteger(depth) || depth < 1 || depth > stack.length) throw new Error('bad depth');
      stack.length = depth;
      const rec = r.slice();
      rec[0] = gid;
      rec[1] = stack[depth - 1];
      if (r[2] === KIND_ELEMENT || r[2] === KIND_DOCUMENT || r[2] === KIND_SHADOW) stack.push(gid);
      prev = gid;
      out[i] = rec;
    }
    return out;
  }

  function makeNode(doc, r, pending) {
    if (!Array.isArray(r) || r.length < 4) throw new Error('bad record');
    const kind = r[2];
    let node;
    if (kind === KIND_ELEMENT) {
      const opts = r[5] && typeof r[5] === 'object' ? r[5] : null;
      node = makeElement(doc, r[3], r[4], opts);
      // The gid is not on the wire as an attribute: the mirror carries it like the page does.
      rawSet(node, 'data-gid', String(Number(r[0])));
      if (opts && !opts.m) {
        if (typeof opts.v === 'string') pending.push(['v', node, opts.v]);
        if (typeof opts.k === 'boolean') pending.push(['k', node, opts.k]);
      }
    } else if (kind === KIND_TEXT) {
      node = doc.createTextNode(String(r[3]));
    } else if (kind === KIND_COMMENT) {
      node = doc.createComment(String(r[3]));
    } else if (kind === KIND_DOCTYPE) {
      try {
        node = doc.implementation.createDocumentType(String(r[3]) || 'html', '', '');
      } catch (e) {
        node = doc.createComment('doctype'); // kept detached: only the gid entry matters
      }
    } else {
      throw new Error('unknown node kind ' + kind);
    }
    const gid = Number(r[0]);
    if (!Number.isInteger(gid) || gid <= 0) throw new Error('bad gid');
    gidOf.set(node, gid);
    return node;
  }

  /** Appends, tolerating what the DOM refuses (e.g. text directly under the document). */
  function safeAppend(parent, node) {
    try { parent.appendChild(node); } catch (e) { /* stays detached */ }
  }

  function applyPending(pending) {
    for (const [what, el, v] of pending) {
      try {
        if (what === 'v') el.value = v;
        else el.checked = v;
      } catch (e) { /* e.g. file inputs */ }
    }
  }

  /** Removes `node` (and its subtree) from the document and the gid map. */
  function forget(node) {
    if (node.parentNode) node.parentNode.removeChild(node);
    const stack = [node];
    while (stack.length) {
      const n = stack.pop();
      const g = gidOf.get(n);
      if (g !== undefined && S.nodes.get(g) === n) S.nodes.delete(g);
      for (let c = n.firstChild; c; c = c.nextSibling) stack.push(c);
      const root = n.nodeType === 1 ? rootOf.get(n) : null;
      if (root) {
        rootOf.delete(n);
        const rg = gidOf.get(root);
        if (rg !== undefined && S.nodes.get(rg) === root) S.nodes.delete(rg);
        for (let c = root.firstChild; c; c = c.nextSibling) stack.push(c);
      }
    }
  }

  function get(gid) {
    const n = gid === 0 ? S.doc : S.nodes.get(gid);
    if (!n) throw new Error('unknown node ' + gid);
    return n;
  }

  function getElement(gid) {
    const n = get(gid);
    if (!isElement(n)) throw new Error('node ' + gid + ' is not an element');
    return n;
  }

  // ---- snapshot ----

  async function applySnapshot(m) {
    if (!Array.isArray(m.nodes)) throw new Error('snapshot without nodes');
    const nodes = resolveRecords(m.nodes, 0);
    const standards = nodes.some((r) => r[2] === KIND_DOCTYPE && r[1] === 0);
    clearMirror();
    const doc = await prepareFrame(standards);
    clearMirror();
    S.page = null;
    S.seq = 0;
    S.base = String(m.base || m.url || '');
    S.url = String(m.url || S.url);
    if (m.title) S.title = String(m.title);
    S.vw = Number(m.vw) || 0;
    S.vh = Number(m.vh) || 0;
    layout();
    const pending = [];
    for (const r of nodes) {
      const gid = Number(r[0]);
      if (S.nodes.has(gid)) throw new Error('duplicate gid ' + gid);
      const parent = Number(r[1]);
      if (isRootKind(r[2])) {
        S.nodes.set(gid, makeRoot(r, S.nodes.get(parent)));
        continue;
      }
      const node = makeNode(doc, r, pending);
      S.nodes.set(gid, node);
      if (parent === 0) {
        if (node.nodeType === KIND_DOCTYPE || node.nodeType === KIND_ELEMENT ||
            node.nodeType === KIND_COMMENT) safeAppend(doc, node);
      } else {
        const p = S.nodes.get(parent);
        if (!isContainer(p)) throw new Error('bad parent ' + parent);
        safeAppend(p, node);
      }
    }
    mountFrames();
    styleShadows(doc);
    applyPending(pending);
    if (Array.isArray(m.ops)) for (const op of m.ops) applyOp(op);
    refreshPseudo();
    S.page = String(m.page);
    S.seq = Number(m.seq) || 0;
    S.snapshots += 1;
    S.resyncing = false;
    setScroll(0, m.sx, m.sy);
    if (Array.isArray(m.scrolls)) {
      for (const s of m.scrolls) {
        if (Array.isArray(s) && S.nodes.has(Number(s[0]))) setScroll(Number(s[0]), s[1], s[2]);
      }
    }
    // Images and fonts arriving later change the layout: re-apply the window scroll.
    const page = S.page;
    for (const ms of [100, 500, 1500]) {
      S.scrollTimers.push(setTimeout(() => {
        if (S.page === page) scrollWindow(S.sx, S.sy);
      }, ms));
    }
  }

  // ---- diff operations ----

  function scrollWindow(x, y) {
    const win = frame.contentWindow;
    if (win) {
      try { win.scrollTo(Number(x) || 0, Number(y) || 0); } catch (e) { /* ignore */ }
    }
  }

  function setScroll(gid, x, y) {
    if (gid === 0) {
      S.sx = Number(x) || 0;
      S.sy = Number(y) || 0;
      scrollWindow(S.sx, S.sy);
    } else {
      const el = getElement(gid);
      el.scrollLeft = Number(x) || 0;
      el.scrollTop = Number(y) || 0;
    }
  }

  function opChildren(parentGid, list, wire) {
    if (!Array.isArray(list) || !Array.isArray(wire)) throw new Error('bad c op');
    const records = resolveRecords(wire, parentGid);
    const parent = get(parentGid);
    if (parent !== S.doc && (!isContainer(parent) || maskSize.has(parent))) {
      throw new Error('node ' + parentGid + ' cannot have children');
    }
    const doc = S.doc;
    const pending = [];
    const fresh = new Set();
    for (const r of records) {
      const gid = Number(Array.isArray(r) ? r[0] : NaN);
      const old = S.nodes.get(gid);
      if (old && (old === parent || old.contains(parent))) {
        throw new Error('record ' + gid + ' would replace an ancestor of ' + parentGid);
      }
      if (old && !hostOf.has(old)) forget(old);
      const p = Number(r[1]);
      if (p !== parentGid && (!fresh.has(p) || !isContainer(S.nodes.get(p)) || maskSize.has(S.nodes.get(p)))) {
        throw new Error('record ' + gid + ' has a parent outside this op');
      }
      if (isRootKind(r[2])) {
        S.nodes.set(gid, makeRoot(r, S.nodes.get(p)));
        fresh.add(gid);
        continue;
      }
      const node = makeNode(doc, r, pending);
      S.nodes.set(gid, node);
      if (p !== parentGid) safeAppend(S.nodes.get(p), node);
      fresh.add(gid);
    }
    const wanted = [];
    const seen = new Set();
    let keepRoot = null;
    for (const g of list) {
      const gid = Number(g);
      if (seen.has(gid)) throw new Error('repeated child ' + gid);
      seen.add(gid);
      const n = S.nodes.get(gid);
      if (n && hostOf.get(n) === parent) {
        keepRoot = n; // the content root: attached, not a child node
        continue;
      }
      const ok = n && (n.parentNode === parent || (fresh.has(gid) && !n.parentNode));
      if (!ok) throw new Error('node ' + gid + ' is not a child of ' + parentGid);
      wanted.push(n);
    }
    if (isElement(parent) && rootOf.has(parent) && rootOf.get(parent) !== keepRoot) forgetRoot(parent);
    const keep = new Set(wanted);
    for (const c of Array.from(parent.childNodes)) {
      if (!keep.has(c)) forget(c);
    }
    let ref = parent.firstChild;
    for (const n of wanted) {
      if (n === ref) {
        ref = ref.nextSibling;
      } else {
        try { parent.insertBefore(n, ref); } catch (e) { /* refused by the DOM: detached */ }
      }
    }
    // Fresh records left detached (listed nowhere) are dropped.
    for (const gid of fresh) {
      const n = S.nodes.get(gid);
      if (n && !n.parentNode && !seen.has(gid) && !hostOf.has(n)) forget(n);
    }
    mountFrames();
    for (const gid of fresh) {
      const n = S.nodes.get(gid);
      if (n && n.nodeType === 11) adoptSheet(n);
      else if (n && n.nodeType === 1 && n.isConnected) styleShadows(n);
    }
    applyPending(pending);
  }

  function applyOp(op) {
    if (!Array.isArray(op)) throw new Error('bad op');
    switch (op[0]) {
      case 'c':
        opChildren(Number(op[1]), op[2], op[3]);
        if (!S.pseudoDirty) {
          // New or changed stylesheets: the rewritten :hover / :focus rules are rebuilt.
          const p = S.nodes.get(Number(op[1]));
          S.pseudoDirty = (p && p.localName === 'style') ||
            op[3].some((r) => r[2] === KIND_ELEMENT && (r[3] === 'style' || r[3] === 'link'));
        }
        break;
      case 'a': {
        const el = getElement(Number(op[1]));
        const name = String(op[2]);
        if (maskSize.has(el) && !MASK_SAFE.has(name)) break;
        setAttr(el, name, op[3] == null ? null : String(op[3]));
        break;
      }
      case 'x': {
        const n = get(Number(op[1]));
        if (n.nodeType !== KIND_TEXT && n.nodeType !== KIND_COMMENT) {
          throw new Error('x on a non-text node');
        }
        n.data = String(op[2]);
        if (n.parentNode && n.parentNode.localName === 'style') S.pseudoDirty = true;
        break;
      }
      case 'v': {
        const el = getElement(Number(op[1]));
        if (!maskSize.has(el)) remoteValue(el, String(op[2]));
        break;
      }
      case 'k': {
        const el = getElement(Number(op[1]));
        if (!maskSize.has(el)) applyPending([['k', el, !!op[2]]]);
        break;
      }
      case 's':
        setScroll(Number(op[1]), op[2], op[3]);
        break;
      case 'w':
        S.vw = Number(op[1]) || 0;
        S.vh = Number(op[2]) || 0;
        layout();
        break;
      case 'css': {
        const el = getElement(Number(op[1]));
        if (el.localName === 'style' && !maskSize.has(el)) setStyleRules(el, op[2]);
        S.pseudoDirty = true;
        break;
      }
      case 'sheet': {
        const id = Number(op[1]);
        sheetText.set(id, String(op[2]));
        for (const doc of S.sheetDocs) {
          const sh = sheetInst.get(doc) && sheetInst.get(doc).get(id);
          if (sh) { try { sh.replaceSync(String(op[2])); } catch (e) { /* unparsable */ } }
        }
        break;
      }
      case 'adopt': {
        const gid = Number(op[1]);
        const root = gid === 0 ? S.doc : S.nodes.get(gid);
        if (!root || (root.nodeType !== 9 && root.nodeType !== 11)) throw new Error('adopt on ' + gid);
        if (!Array.isArray(op[2])) throw new Error('bad adopt op');
        adopted.set(root, op[2].map(Number));
        adoptSheet(root);
        S.pseudoDirty = true;
        break;
      }
      case 'o': {
        const el = getElement(Number(op[1]));
        if (el.localName === 'select' && !maskSize.has(el) && Array.isArray(op[2])) {
          const want = new Set(op[2].map(Number));
          for (let i = 0; i < el.options.length; i++) el.options[i].selected = want.has(i);
        }
        break;
      }
      case 'f':
        mark('data-glance-focus', 'data-glance-focus-within', Number(op[1]));
        followFocus(Number(op[1]));
        break;
      case 'h':
        mark('data-glance-hover', 'data-glance-hover', Number(op[1]));
        break;
      case 'media':
        setMedia(getElement(Number(op[1])), !!op[2], Number(op[3]), Number(op[4]));
        break;
      case 'img':
        setCanvas(getElement(Number(op[1])), String(op[2]));
        break;
      case 'top':
        setTop(getElement(Number(op[1])), !!op[2], !!op[3]);
        break;
      case 'm': {
        const el = getElement(Number(op[1]));
        while (el.firstChild) forget(el.firstChild);
        forgetRoot(el);
        for (const a of Array.from(el.attributes)) {
          if (!MASK_SAFE.has(a.name)) rawRemove(el, a.name);
        }
        mask(el, op[2], op[3]);
        break;
      }
      default:
        throw new Error('unknown op ' + op[0]);
    }
  }

  function applyDiff(m) {
    if (S.resyncing) {
      // Waiting for the snapshot we asked for; ask again only if it does not come.
      if (Date.now() - S.resyncAt > RESYNC_RETRY_MS) resync('still out of sync');
      return;
    }
    const seq = Number(m.seq);
    if (S.page === null || m.page !== S.page || seq !== S.seq + 1 || !Array.isArray(m.ops)) {
      resync('sequence gap: have ' + S.page + '/' + S.seq + ', got ' + m.page + '/' + m.seq);
      return;
    }
    for (const op of m.ops) applyOp(op);
    if (S.pseudoDirty) refreshPseudo();
    S.seq = seq;
    S.diffs += 1;
  }

  /** Drops the mirror and asks the server for its current snapshot. */
  function resync(why) {
    console.warn('glance viewer: resync:', why);
    clearMirror();
    S.page = null;
    S.seq = 0;
    S.resyncing = true;
    S.resyncAt = Date.now();
    send({ t: 'snapreq' });
    renderOverlay();
  }

  // ---------------------------------------------------------------------------------------
  // Messages.

  const queue = [];
  let pumping = false;

  function enqueue(m) {
    queue.push(m);
    if (!pumping) pump();
  }

  async function pump() {
    pumping = true;
    try {
      while (queue.length) {
        const m = queue.shift();
        try {
          await handle(m);
        } catch (e) {
          if (!S.final) resync(e && e.message ? e.message : String(e));
        }
        if (S.url && !S.final && S.state !== 'waiting') emitNavigate();
        renderHeader();
        renderOverlay();
        publish();
        renderMarks();
      }
    } finally {
      pumping = false;
    }
  }

  async function handle(m) {
    if (!m || typeof m !== 'object' || S.final) return;
    switch (m.t) {
      case 'session':
        onSession(m);
        break;
      case 'snap':
        await applySnapshot(m);
        break;
      case 'diff':
        applyDiff(m);
        break;
      case 'msg':
        if (typeof m.name === 'string' && m.data && typeof m.data === 'object') {
          for (const f of (msgListeners.get(m.name) || []).slice()) {
            try { f(m.name, m.data); } catch (e) { console.error('glance viewer: message listener threw', e); }
          }
          emit('sessionmessage', { name: m.name, data: m.data });
        }
        break;
      case 'userstate':
        if (typeof m.name === 'string') {
          if (m.value === null || m.value === undefined) userState.delete(m.name);
          else userState.set(m.name, m.value);
          emit('userstate', { name: m.name, value: m.value === undefined ? null : m.value });
        }
        break;
      case 'agents':
        if (Array.isArray(m.agentlist)) {
          S.agentsFromServer = true;
          setAgents(m.agentlist, m.count);
        }
        break;
      case 'rc':
        onRc(m);
        break;
      case 'actres':
        onActResult(m);
        break;
      case 'navres':
        onNavResult(m);
        break;
      case 'vptr':
        S.vptr = Number.isFinite(m.x) && Number.isFinite(m.y) ? { x: m.x, y: m.y } : null;
        break;
      case 'ended':
        S.final = true;
        emitEnded(m.reason === 'agent' ? 'AgentLeft' : 'VisitorLeft');
        if (S.tool) setTool('');
        setState('ended');
        showMessage('Session ended',
          m.reason === 'agent' ? 'The session was ended by an agent.'
            : m.reason === 'timeout' ? 'The visitor did not come back.'
              : 'The visitor ended the session.');
        clearMirror();
        closeSocket();
        break;
      default:
        break;
    }
  }

  function onSession(m) {
    if (m.state === 'notfound') {
      if (waitMode) {
        setState('waiting');
        showMessage('Waiting for the visitor\u2026',
          'Session ' + key + ' has not started yet. This page joins it as soon as it does.');
      } else {
        S.final = true;
        setState('notfound');
        showMessage('Session not found',
          'There is no session with key ' + key + '. Check the key with the visitor.');
        closeSocket();
      }
      return;
    }
    if (typeof m.url === 'string' && m.url) S.url = m.url;
    if (typeof m.title === 'string' && m.title) S.title = m.title;
    if (typeof m.ua === 'string' && m.ua) S.ua = m.ua;
    if (typeof m.sid === 'string') S.sid = m.sid;
    else if (typeof m.ssnid === 'string') S.sid = m.ssnid;
    if (typeof m.visitorversion === 'string') S.visitorversion = m.visitorversion;
    if (typeof m.pagemasked === 'boolean') S.pagemasked = m.pagemasked;
    const st = ['active', 'away', 'paused', 'ended', 'waiting'].includes(m.state) ? m.state : 'active';
    if (st === 'ended') {
      handle({ t: 'ended', reason: m.reason });
      return;
    }
    if (!S.connected && st !== 'waiting') {
      S.connected = true;
      emit('connected', { ssnkey: key, groupid: group || '', service: 'cobrowse' });
    }
    if (m.you && typeof m.you === 'object') {
      S.you = { username: String(m.you.username || ''), name: String(m.you.name || m.you.username || ''), num: m.you.num };
      if (!S.agentsFromServer) setAgents([S.you], 1);
    }
    if (m.rc && typeof m.rc === 'object') onRc(m.rc);
    if (typeof m.a11y === 'boolean') onA11y(m.a11y);
    setState(st);
  }

  // ---------------------------------------------------------------------------------------
  // Socket.

  function send(obj) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) {
      S.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  function closeSocket() {
    clearTimeout(S.retryTimer);
    const ws = S.ws;
    S.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try { ws.close(1000, 'agent left'); } catch (e) { /* ignore */ }
    }
    setConn('');
  }

  function connect() {
    if (S.final || S.needLogin) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = scheme + '//' + location.host + '/ws/agent?key=' + encodeURIComponent(key);
    if (group) url += '&group=' + encodeURIComponent(group);
    const usedTicket = !!S.ticket;
    if (S.token) url += '&token=' + encodeURIComponent(S.token);
    else if (S.ticket) url += '&ticket=' + encodeURIComponent(S.ticket);
    S.ticket = null; // single-use
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.ws = ws;
    setConn(S.retries ? 'reconnecting\u2026' : 'connecting\u2026');
    ws.onopen = () => {
      opened = true;
      S.disconnected = false;
      renderOverlay();
      S.retries = 0;
      setConn('');
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m && m.t === 'error') {
        if (m.code === 'auth') {
          showLogin(usedTicket ? 'The join link has expired. Sign in to join the session.' : '');
          return;
        }
        setConn(typeof m.msg === 'string' ? m.msg.slice(0, 200) : 'server error');
        return;
      }
      enqueue(m);
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null;
      if (opened) { scheduleReconnect(); return; }
      // Refused before opening: a 401 (no or bad credentials) or the network. Ask the API.
      probeAuth().then((ok) => {
        if (S.ws || S.final || S.needLogin) return;
        if (ok) scheduleReconnect();
        else showLogin('');
      });
    };
  }

  /** false when the server says we are not authenticated (401), true otherwise. */
  async function probeAuth() {
    try {
      const headers = S.token ? { Authorization: 'Bearer ' + S.token } : {};
      const res = await fetch('/api/agent/lookup?key=' + encodeURIComponent(key), { credentials: 'same-origin', headers });
      return res.status !== 401;
    } catch (e) {
      return true;
    }
  }

  function scheduleReconnect() {
    if (S.final || S.needLogin) return;
    S.retries += 1;
    const base = Math.min(500 * Math.pow(2, S.retries - 1), 10000);
    const delay = base / 2 + Math.random() * base / 2;
    setConn('connection lost, retrying\u2026');
    S.disconnected = true;
    renderOverlay();
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(connect, delay);
  }

  // ---------------------------------------------------------------------------------------
  // Notices (an aria-live region under the toolbar).

  let noticeTimer = 0;
  function notice(text, ms) {
    ui.notice.textContent = text || '';
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(() => { ui.notice.textContent = ''; }, ms || 10000);
  }

  // ---------------------------------------------------------------------------------------
  // Login (docs/PROTOCOL.md "Agent identities and authentication").

  const LOGIN_ERRORS = {
    badcredentials: 'Wrong user name or password.',
    expired: 'The login key has expired.',
    badkey: 'The login key is not valid.',
    badrequest: 'Enter a user name and a password.',
    network: 'The server cannot be reached. Try again.',
  };

  /** POSTs `body` to /api/agent/auth (which also sets the cookie); null on success, else the error code. */
  async function loginWith(body) {
    let res;
    try {
      res = await fetch('/api/agent/auth', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return 'network';
    }
    let j = null;
    try { j = await res.json(); } catch (e) { j = null; }
    if (!res.ok) return (j && typeof j.error === 'string' && j.error.slice(0, 40)) || 'http ' + res.status;
    if (j && typeof j.token === 'string' && /^[A-Za-z0-9_-]{1,200}$/.test(j.token)) S.token = j.token;
    return null;
  }

  function showLogin(msg) {
    S.needLogin = true;
    closeSocket();
    queue.length = 0;
    setState('login');
    showMessage('Sign in', '');
    ui.loginError.textContent = msg || '';
    setTimeout(() => { try { ui.loginUser.focus(); } catch (e) { /* ignore */ } }, 0);
  }

  ui.loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = $('glance-login-submit');
    btn.disabled = true;
    ui.loginError.textContent = '';
    const err = await loginWith({ username: ui.loginUser.value.trim(), password: ui.loginPass.value });
    btn.disabled = false;
    if (err) {
      ui.loginError.textContent = LOGIN_ERRORS[err] || 'Sign-in failed (' + err + ').';
      ui.loginPass.select();
      return;
    }
    ui.loginPass.value = '';
    S.needLogin = false;
    S.retries = 0;
    setState('waiting');
    showMessage(waitMode ? 'Waiting for the visitor\u2026' : 'Connecting\u2026', '');
    connect();
  });

  // ---------------------------------------------------------------------------------------
  // Agents in the session.

  function setAgents(list, count) {
    const agentlist = list.filter((a) => a && typeof a === 'object').slice(0, 100).map((a) => ({
      username: String(a.username || ''),
      name: String(a.name || a.username || ''),
      role: typeof a.role === 'string' ? a.role : 'agent',
      num: a.num,
    }));
    const n = Number(count);
    S.agents = { count: Number.isFinite(n) && n >= 0 ? n : agentlist.length, agentlist };
    renderHeader();
    emit('agents', { count: S.agents.count, agentlist, service: 'cobrowse' });
  }

  // ---------------------------------------------------------------------------------------
  // Remote control: the button, the visitor's answers, refusals.

  const REFUSALS = {
    masked: 'This field is masked: the agent can\u2019t type in it.',
    password: 'This is a password field: the agent can\u2019t type in it.',
    javascript: 'This link runs a script on the visitor\u2019s page: it can\u2019t be clicked remotely.',
    missing: 'That element is no longer on the visitor\u2019s page.',
    notenabled: 'Remote control is not on: request control first.',
    disabled: 'That control is disabled on the visitor\u2019s page.',
    invalid: 'The visitor\u2019s page could not perform that action.',
  };
  const refusalText = (reason) => REFUSALS[reason] || 'The visitor\u2019s page refused that action.';

  let rcEmitted = null;
  function onRc(m) {
    const prev = S.rc;
    const state = ['off', 'requested', 'accepted', 'declined'].includes(m.state) ? m.state
      : m.enabled ? 'accepted' : 'off';
    const enabled = typeof m.enabled === 'boolean' ? m.enabled : state === 'accepted';
    S.rc = { enabled, state, suspended: !!m.suspended };
    // Every session frame repeats the rc state: only a change answers the agent's request.
    if (state !== prev.state || enabled !== prev.enabled) S.rcAsked = false;
    if (state === 'declined' && prev.state !== 'declined') notice('The visitor declined remote control.');
    else if (enabled && !prev.enabled) notice('You have remote control: your clicks and typing in the page go to the visitor. F6 returns to the toolbar.');
    else if (!enabled && prev.enabled) notice('Remote control ended.');
    if (!enabled) S.editing = null;
    renderRc();
    const key2 = enabled + '/' + S.rc.suspended;
    if (key2 !== rcEmitted) {
      rcEmitted = key2;
      emit('rc', { enabled, suspended: S.rc.suspended, service: 'cobrowse' });
    }
  }

  function renderRc() {
    const r = S.rc;
    const waiting = !r.enabled && (r.state === 'requested' || S.rcAsked);
    document.body.dataset.rc = r.enabled ? 'enabled' : waiting ? 'requested' : 'off';
    if (r.enabled) {
      ui.rc.textContent = 'Stop control';
      ui.rcStatus.textContent = r.suspended ? 'Remote control suspended' : 'Remote control on';
    } else if (waiting) {
      ui.rc.textContent = 'Cancel request';
      ui.rcStatus.textContent = 'Waiting for the visitor\u2026';
    } else {
      ui.rc.textContent = 'Request control';
      ui.rcStatus.textContent = r.state === 'declined' ? 'The visitor declined' : '';
    }
    publish();
  }

  /** Asks the visitor for remote control (true) or gives it back / cancels the request (false). */
  function requestRC(on) {
    on = on === undefined ? true : !!on;
    if (!send({ t: 'rc', on })) { notice('Not connected.'); return false; }
    S.rcAsked = on && !S.rc.enabled;
    renderRc();
    return true;
  }
  ui.rc.addEventListener('click', () => {
    requestRC(!(S.rc.enabled || S.rc.state === 'requested' || S.rcAsked));
  });

  function onActResult(m) {
    const waiter = typeof m.id === 'number' && actWaiters.get(m.id);
    if (waiter) {
      actWaiters.delete(m.id);
      waiter({ ok: m.ok === true, reason: typeof m.reason === 'string' ? m.reason : undefined });
    }
    if (m.ok !== false) return;
    const reason = typeof m.reason === 'string' ? m.reason.slice(0, 40) : 'invalid';
    notice(refusalText(reason));
    emit('rcrefused', { id: typeof m.id === 'number' ? m.id : null, reason });
  }

  /** Refused here without asking the visitor (masked or password fields: the visitor refuses too). */
  function refuseLocally(reason) {
    notice(refusalText(reason));
    emit('rcrefused', { id: null, reason });
  }

  function act(a) {
    const f = Object.assign({ t: 'act', id: ++S.actId }, a);
    if (!send(f)) notice('Not connected: the action was not sent.');
    return f.id;
  }

  // ---------------------------------------------------------------------------------------
  // The agent's input on the mirror. Listeners run in this (the viewer's) realm on the mirror
  // documents; the mirror itself never runs script. Every default action is cancelled unless
  // remote control is on and the target is a field being edited: links never navigate.

  const NON_TEXT = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'image', 'file',
    'hidden', 'range', 'color']);
  const isInput = (el) => el && el.nodeType === 1 && el.localName === 'input' && el.namespaceURI !== SVG_NS;
  const isTextField = (el) => (isInput(el) && !NON_TEXT.has(el.type)) || (el && el.localName === 'textarea');
  const isPassword = (el) => isInput(el) && el.type === 'password';
  const isProtected = (el) => maskSize.has(el) || isPassword(el);
  const FIELDS = 'input,textarea,select,button,label,option,[contenteditable]';
  const EDIT_QUIET_MS = 1500;

  /** The innermost mirror element (with a gid) the event is about. */
  function targetOf(e) {
    let n = e.composedPath ? e.composedPath()[0] : e.target;
    while (n && !(n.nodeType === 1 && gidOf.has(n))) n = n.nodeType === 11 ? n.host : n.parentNode;
    return n && n.nodeType === 1 ? n : null;
  }

  /** A point of the mirror (event client coordinates in `win`) as top-level page coordinates. */
  function pagePoint(win, x, y) {
    const top = frame.contentWindow;
    try {
      while (win && win !== top && win.frameElement) {
        const fe = win.frameElement;
        const r = fe.getBoundingClientRect();
        x += r.left + fe.clientLeft;
        y += r.top + fe.clientTop;
        win = fe.ownerDocument.defaultView;
      }
      return { x: Math.round(x + top.scrollX), y: Math.round(y + top.scrollY) };
    } catch (e) {
      return null;
    }
  }

  let ptrLast = 0;
  let ptrTimer = 0;
  let ptrPending = null;
  function sendPtr(x, y) {
    ptrPending = { t: 'ptr', x, y };
    const wait = 33 - (Date.now() - ptrLast);
    if (x === null || wait <= 0) flushPtr();
    else if (!ptrTimer) ptrTimer = setTimeout(flushPtr, wait);
  }
  function flushPtr() {
    clearTimeout(ptrTimer);
    ptrTimer = 0;
    if (!ptrPending) return;
    ptrLast = Date.now();
    const p = ptrPending;
    ptrPending = null;
    send(p);
  }

  function onMove(e) {
    if (S.state !== 'active' || !S.page) return;
    const doc = (e.target && (e.target.ownerDocument || e.target)) || null;
    const p = pagePoint(doc && doc.defaultView, e.clientX, e.clientY);
    if (p) sendPtr(p.x, p.y);
  }

  function onDown(e) {
    if (e.button !== 0) { e.preventDefault(); return; }
    const el = targetOf(e);
    if (S.tool || !S.rc.enabled || S.state !== 'active') {
      // No focus, no dropdown, no caret in the mirror's controls.
      if (el && el.closest(FIELDS)) e.preventDefault();
      return;
    }
    if (el && isProtected(el)) e.preventDefault();
  }

  function onClick(e) {
    e.preventDefault();
    if (S.state !== 'active') return;
    const el = targetOf(e);
    if (!el) return;
    const gid = gidOf.get(el);
    if (S.tool === 'highlight') { outline(gid); return; }
    if (!S.rc.enabled) return;
    if (isProtected(el)) { refuseLocally(isPassword(el) ? 'password' : 'masked'); return; }
    const r = el.getBoundingClientRect();
    const frac = (v, lo, size) => (size > 0 ? Math.round(Math.min(Math.max((v - lo) / size, 0), 1) * 1000) / 1000 : 0.5);
    act({ type: 'click', gid, x: frac(e.clientX, r.left, r.width), y: frac(e.clientY, r.top, r.height) });
  }

  function onKey(e) {
    if (e.key === 'F6') {
      // The way out of the mirror for keyboard users (Tab goes to the visitor under control).
      e.preventDefault();
      ui.rc.focus();
      return;
    }
    if (e.key === 'Escape' && (S.tool || S.outlineGid)) {
      e.preventDefault();
      clearOutline();
      return;
    }
    const el = targetOf(e);
    if (!S.rc.enabled || S.state !== 'active' || S.tool) {
      // Tab still leaves the frame (keyboard users), shortcuts (copy) still work.
      if (e.key !== 'Tab' && !e.ctrlKey && !e.metaKey) e.preventDefault();
      return;
    }
    if (!el) { e.preventDefault(); return; }
    const gid = gidOf.get(el);
    if (isProtected(el)) {
      if (e.key !== 'Tab') e.preventDefault();
      if (e.key.length === 1 || e.key === 'Backspace' || e.key === 'Delete') refuseLocally(isPassword(el) ? 'password' : 'masked');
      return;
    }
    if (e.key === 'Enter' || e.key === 'Tab' || e.key === 'Escape') {
      if (e.key === 'Enter' && (el.localName === 'textarea' || el.isContentEditable)) return; // a newline: `type`
      e.preventDefault();
      const ed = S.editing;
      if (e.key === 'Enter' && ed && ed.el === el && ed.dirty) {
        act({ type: 'change', gid, value: el.value });
        ed.dirty = false;
      }
      act({ type: 'key', gid, key: e.key });
      return;
    }
    if (!isTextField(el) && el.localName !== 'select' && !el.isContentEditable) e.preventDefault();
  }

  function onBeforeInput(e) {
    const el = targetOf(e);
    if (!S.rc.enabled || S.tool || S.state !== 'active' || !el || isProtected(el) || !isTextField(el)) e.preventDefault();
  }

  function onInput(e) {
    const el = targetOf(e);
    if (!el || !S.rc.enabled || !isTextField(el) || isProtected(el)) return;
    const gid = gidOf.get(el);
    const prev = S.editing && S.editing.el === el ? S.editing.remote : undefined;
    S.editing = { el, gid, dirty: true, at: Date.now(), remote: prev };
    act({ type: 'type', gid, value: el.value });
    clearTimeout(S.editTimer);
    S.editTimer = setTimeout(applyRemoteLater, EDIT_QUIET_MS + 50);
  }

  function onChange(e) {
    const el = targetOf(e);
    if (!el || !S.rc.enabled || isProtected(el)) return;
    if (el.localName === 'select' || (isInput(el) && (el.type === 'range' || el.type === 'color'))) {
      act({ type: 'type', gid: gidOf.get(el), value: el.value });
    }
  }

  function onBlur(e) {
    const el = targetOf(e);
    const ed = S.editing;
    if (!ed || ed.el !== el) return;
    S.editing = null;
    if (ed.dirty && S.rc.enabled) act({ type: 'change', gid: ed.gid, value: el.value });
    if (ed.remote !== undefined) setValueKeepCaret(el, ed.remote);
  }

  /**
   * A `v` op from the visitor. The field the agent is typing in keeps the agent's text while the
   * agent types (the visitor echoes every keystroke, some of them late); the visitor's latest
   * value is applied once the agent pauses or leaves the field.
   */
  function remoteValue(el, v) {
    const ed = S.editing;
    if (ed && ed.el === el && Date.now() - ed.at < EDIT_QUIET_MS) { ed.remote = v; return; }
    if (ed && ed.el === el) ed.remote = undefined;
    setValueKeepCaret(el, v);
  }

  function applyRemoteLater() {
    const ed = S.editing;
    if (!ed || ed.remote === undefined) return;
    if (Date.now() - ed.at < EDIT_QUIET_MS) { S.editTimer = setTimeout(applyRemoteLater, 200); return; }
    const v = ed.remote;
    ed.remote = undefined;
    setValueKeepCaret(ed.el, v);
  }

  function setValueKeepCaret(el, v) {
    if (el.value === v) return;
    let a = null;
    let b = null;
    try {
      if (el.ownerDocument.activeElement === el && typeof el.selectionStart === 'number') {
        a = el.selectionStart;
        b = el.selectionEnd;
      }
    } catch (e) { /* no selection on this input type */ }
    applyPending([['v', el, v]]);
    if (a !== null) {
      try { el.setSelectionRange(Math.min(a, v.length), Math.min(b, v.length)); } catch (e) { /* ignore */ }
    }
  }

  /** While the agent has control and works in the mirror, the mirror's focus follows the visitor's. */
  function followFocus(gid) {
    if (!S.rc.enabled || document.activeElement !== frame) return;
    const el = S.nodes.get(gid);
    if (!el || el.nodeType !== 1 || isProtected(el)) return;
    if (isTextField(el) || el.localName === 'select') {
      try { if (el.ownerDocument.activeElement !== el) el.focus({ preventScroll: true }); } catch (e) { /* ignore */ }
    }
  }

  const stop = (e) => e.preventDefault();
  const hooked = new WeakSet();
  /** Attaches the viewer's listeners to a mirror document (the top one and every frame's). */
  function hookDoc(doc) {
    if (!doc || hooked.has(doc)) return;
    hooked.add(doc);
    const o = { capture: true, passive: false };
    doc.addEventListener('mousemove', onMove, o);
    doc.addEventListener('mousedown', onDown, o);
    doc.addEventListener('click', onClick, o);
    for (const t of ['auxclick', 'dblclick', 'contextmenu', 'dragstart', 'dragover', 'drop', 'submit', 'wheel']) {
      doc.addEventListener(t, stop, o);
    }
    doc.addEventListener('keydown', onKey, o);
    doc.addEventListener('beforeinput', onBeforeInput, o);
    doc.addEventListener('input', onInput, o);
    doc.addEventListener('change', onChange, o);
    doc.addEventListener('focusout', onBlur, o);
    try { doc.defaultView.addEventListener('scroll', renderMarks, { passive: true }); } catch (e) { /* no window */ }
  }
  frame.addEventListener('mouseleave', () => { if (S.state === 'active') sendPtr(null, null); });

  // ---------------------------------------------------------------------------------------
  // Marks over the mirror: the visitor's pointer and the agent's outline.

  /** `el`'s box in top mirror viewport coordinates. */
  function topRect(el) {
    const r = el.getBoundingClientRect();
    let x = r.left;
    let y = r.top;
    let win = el.ownerDocument.defaultView;
    while (win && win !== frame.contentWindow && win.frameElement) {
      const fe = win.frameElement;
      const fr = fe.getBoundingClientRect();
      x += fr.left + fe.clientLeft;
      y += fr.top + fe.clientTop;
      win = fe.ownerDocument.defaultView;
    }
    return { x, y, w: r.width, h: r.height };
  }

  function renderMarks() {
    const scale = Number(box.dataset.scale) || 1;
    let sx = 0;
    let sy = 0;
    try { sx = frame.contentWindow.scrollX; sy = frame.contentWindow.scrollY; } catch (e) { /* ignore */ }
    const p = S.vptr;
    const show = S.state === 'active' && !!S.page;
    if (p && show) {
      ui.vptr.hidden = false;
      ui.vptr.style.left = (p.x - sx) * scale + 'px';
      ui.vptr.style.top = (p.y - sy) * scale + 'px';
    } else {
      ui.vptr.hidden = true;
    }
    const el = S.outlineGid ? S.nodes.get(S.outlineGid) : null;
    if (show && el && el.nodeType === 1 && el.isConnected) {
      try {
        const r = topRect(el);
        ui.outline.hidden = false;
        ui.outline.style.left = r.x * scale - 3 + 'px';
        ui.outline.style.top = r.y * scale - 3 + 'px';
        ui.outline.style.width = r.w * scale + 6 + 'px';
        ui.outline.style.height = r.h * scale + 6 + 'px';
      } catch (e) { ui.outline.hidden = true; }
    } else {
      ui.outline.hidden = true;
    }
    pub.vptr = S.vptr;
    pub.outline = S.outlineGid;
  }

  // ---------------------------------------------------------------------------------------
  // Gestures (the Highlight tool).

  const CROSSHAIR = '*{cursor:crosshair !important}';
  /** The Highlight tool's cursor in the mirror: a rule of the top mirror document's own sheet. */
  function toolCursor() {
    const sh = S.doc && sheets.get(S.doc);
    if (!sh) return;
    try {
      const i = Array.prototype.findIndex.call(sh.cssRules, (r) => r.selectorText === '*' && r.style && r.style.cursor === 'crosshair');
      if (S.tool && i < 0) sh.insertRule(CROSSHAIR, sh.cssRules.length);
      else if (!S.tool && i >= 0) sh.deleteRule(i);
    } catch (e) { /* ignore */ }
  }

  function setTool(t) {
    S.tool = t;
    toolCursor();
    ui.highlight.setAttribute('aria-pressed', String(t === 'highlight'));
    document.body.dataset.tool = t;
    pub.tool = t;
  }
  ui.highlight.addEventListener('click', () => {
    setTool(S.tool === 'highlight' ? '' : 'highlight');
    notice(S.tool ? 'Highlight: click an element of the page to outline it for the visitor. Escape clears.' : '');
  });

  function describeEl(el) {
    if (isProtected(el)) return 'a masked element';
    const label = el.getAttribute('aria-label') || el.getAttribute('alt') || el.getAttribute('title') ||
      (el.textContent || '').replace(/\s+/g, ' ').trim() || el.getAttribute('placeholder') || '';
    return '<' + el.localName + '>' + (label ? ' \u201c' + label.slice(0, 80) + '\u201d' : '');
  }

  function outline(gid) {
    if (!gid || !send({ t: 'gesture', kind: 'outline', gid })) return;
    S.outlineGid = gid;
    renderMarks();
    const el = S.nodes.get(gid);
    if (S.a11y && el) notice('Highlighted ' + describeEl(el));
  }

  // ---------------------------------------------------------------------------------------
  // Accessibility features on the visitor's page (`a11y`): the visitor's screen reader reads the
  // element the agent outlines. The state is the session's (any agent may switch it).

  let a11yEmitted = null;
  function onA11y(on) {
    const was = S.a11y;
    S.a11y = on;
    ui.a11y.setAttribute('aria-pressed', String(on));
    if (a11yEmitted !== null && on !== was) {
      notice(on ? 'Screen reader support is on: the visitor\u2019s screen reader reads the elements you highlight.'
        : 'Screen reader support is off.');
    }
    if (on !== a11yEmitted) {
      a11yEmitted = on;
      emit('accessibility', { enabled: on, service: 'cobrowse' });
    }
    publish();
  }

  /** Turns the visitor's accessibility features on or off (the session frame confirms it). */
  function enableAccessibility(on) {
    on = on === undefined ? true : !!on;
    if (!send({ t: 'a11y', on })) { notice('Not connected.'); return false; }
    return true;
  }
  ui.a11y.addEventListener('click', () => enableAccessibility(!S.a11y));

  function clearOutline() {
    send({ t: 'gesture', kind: 'clear' });
    S.outlineGid = 0;
    if (S.tool) setTool('');
    renderMarks();
  }
  ui.clear.addEventListener('click', clearOutline);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && (S.tool || S.outlineGid) && S.state === 'active') clearOutline();
  });

  // ---------------------------------------------------------------------------------------
  // Sending the visitor somewhere.

  const NAV_REFUSALS = {
    untrusted: 'That address is not on one of the site\u2019s trusted domains: the visitor was not sent there.',
    declined: 'The visitor declined to go there.',
    invalid: 'That address is not valid.',
  };

  /** `navigate(options)` of the product: {url, confirm, open, link}; url may be back/forward/refresh. */
  function navigate(options) {
    const o = typeof options === 'string' ? { url: options } : options;
    if (!o || typeof o !== 'object' || typeof o.url !== 'string' || !o.url.trim()) {
      notice('Enter an address to send the visitor to.');
      return false;
    }
    const url = o.url.trim().slice(0, 8192);
    const special = ['back', 'forward', 'refresh'].includes(url);
    const f = { t: 'nav', url, confirm: !!o.confirm, open: !special && !!o.open, link: !special && !o.open };
    if (!send(f)) { notice('Not connected.'); return false; }
    notice(special ? 'Asked the visitor\u2019s browser to go ' + url + '.' : 'Sending the visitor to ' + url + '\u2026');
    return true;
  }

  function onNavResult(m) {
    const ok = m.ok === true;
    const url = typeof m.url === 'string' ? m.url.slice(0, 2048) : '';
    const reason = ok ? null : typeof m.reason === 'string' ? m.reason.slice(0, 40) : 'invalid';
    notice(ok ? 'The visitor is going to ' + (url || 'the new page') + '.'
      : NAV_REFUSALS[reason] || 'The visitor was not sent there (' + reason + ').');
    emit('navigateresult', { ok, url, reason });
  }

  ui.nav.addEventListener('submit', (e) => {
    e.preventDefault();
    if (navigate({ url: ui.navUrl.value, confirm: ui.navConfirm.checked, link: true })) ui.navUrl.value = '';
  });
  for (const [id, url] of [['glance-nav-back', 'back'], ['glance-nav-forward', 'forward'], ['glance-nav-refresh', 'refresh']]) {
    $(id).addEventListener('click', () => navigate({ url, confirm: ui.navConfirm.checked }));
  }

  // ---------------------------------------------------------------------------------------
  // The embedding page (GLANCE.Cobrowse.Agent, /agent/glance-cobrowse-agent.js) and the opener
  // (GLANCE.Agent): events out as {glance_agent: {event, data}}, commands in from the parent only
  // as {glance_agent_cmd: {fn, args}}. Always to / from an exact origin, never "*".

  function originOf(s) {
    try {
      const u = new URL(String(s));
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
    } catch (e) {
      return null;
    }
  }
  const embedded = window.parent !== window;
  const parentOrigin = embedded
    ? originOf((location.ancestorOrigins && location.ancestorOrigins.length && location.ancestorOrigins[0]) || embedOriginParam || '')
    : null;
  const openerOrigin = window.opener && openerOriginParam ? originOf(openerOriginParam) : null;
  const lastEvents = Object.create(null);

  /**
   * `origin=` is chosen by whoever opened this window: events (session messages, user state,
   * URLs) go to the opener only when its origin may also embed the viewer, i.e. it is this origin
   * or one of the frame-ancestors of this page's CSP (the server's `agent_origins`).
   */
  async function openerTrusted() {
    if (openerOrigin === location.origin) return true;
    try {
      const res = await fetch(location.pathname, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' });
      const m = /(?:^|;)\s*frame-ancestors\s+([^;]*)/i.exec(res.headers.get('content-security-policy') || '');
      return !!m && m[1].trim().split(/\s+/).some((src) => src !== "'self'" && originOf(src) === openerOrigin);
    } catch (e) {
      return false;
    }
  }
  let openerQueue = openerOrigin ? [] : null; // events held until the opener's origin is checked
  if (openerOrigin) {
    openerTrusted().then((ok) => {
      const q = openerQueue;
      openerQueue = null;
      if (!ok) {
        console.warn('glance viewer: origin=' + openerOrigin + ' is not an agent origin of this server: no events to the opener');
        return;
      }
      pub.openerOrigin = openerOrigin;
      for (const msg of q) postOpener(msg);
      openerOk = true;
    });
  }
  let openerOk = false;
  function postOpener(msg) {
    if (window.opener && !window.opener.closed) post(window.opener, openerOrigin, msg);
  }
  pub.events = [];

  function post(target, origin, msg) {
    try { target.postMessage(msg, origin); } catch (e) { /* closed or navigated away */ }
  }

  function emit(event, data) {
    lastEvents[event] = data;
    pub.events.push({ event, data });
    if (pub.events.length > 500) pub.events.shift();
    const msg = { glance_agent: { event, data } };
    if (parentOrigin) post(window.parent, parentOrigin, msg);
    if (openerQueue) openerQueue.push(msg);
    else if (openerOk) postOpener(msg);
  }

  function emitNavigate() {
    if (!S.url || S.url === S.lastNavUrl) return;
    S.lastNavUrl = S.url;
    emit('navigate', { browser: parseBrowser(S.ua), visitorversion: S.visitorversion, url: S.url,
      pagemasked: S.pagemasked, service: 'cobrowse' });
  }

  let endedEmitted = false;
  function emitEnded(reason) {
    if (endedEmitted) return;
    endedEmitted = true;
    emit('sessionended', { reason, ssnkey: key, ssnid: S.sid, groupid: group || '', service: 'cobrowse' });
  }

  /** leaveSession(targetUrl): leave, then go to targetUrl (http(s) only). */
  function leaveTo(target) {
    leave();
    if (typeof target !== 'string' || !target) return;
    let u;
    try { u = new URL(target, location.href); } catch (e) { return; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      console.warn('glance viewer: leaveSession: not an http(s) URL');
      return;
    }
    location.href = u.href;
  }

  function runCommand(fn, args) {
    switch (fn) {
      case 'sendSessionMessage': pub.sendSessionMessage(args[0], args[1]); break;
      case 'navigate': navigate(args[0]); break;
      case 'leaveSession': leaveTo(args[0]); break;
      case 'requestRC': requestRC(args[0] === undefined ? true : !!args[0]); break;
      case 'enableAccessibility': enableAccessibility(args[0] === undefined || !!args[0]); break;
      case 'getState':
        // The API script initialised late: the latest data of each event, without firing them.
        post(window.parent, parentOrigin, { glance_agent: { event: 'state', data: { events: Object.assign({}, lastEvents) } } });
        break;
      default: console.warn('glance viewer: unknown command ' + String(fn).slice(0, 40));
    }
  }

  window.addEventListener('message', (e) => {
    if (!parentOrigin || e.source !== window.parent || e.origin !== parentOrigin) return;
    const c = e.data && typeof e.data === 'object' ? e.data.glance_agent_cmd : null;
    if (!c || typeof c !== 'object' || typeof c.fn !== 'string') return;
    try {
      runCommand(c.fn, Array.isArray(c.args) ? c.args : []);
    } catch (err) {
      console.warn('glance viewer: command ' + c.fn + ' refused: ' + (err && err.message));
    }
  });

  Object.assign(pub, {
    requestRC,
    navigate,
    leaveSession: leaveTo,
    /** Outlines mirror element `gid` for the visitor (0: clear). */
    gesture(gid) { if (gid) outline(gid); else clearOutline(); },
    enableAccessibility,
    accessibilityEnabled() { return S.a11y; },
    getSessionState(name) { return lastEvents[name]; },
    parentOrigin,
    openerOrigin: null,
  });

  // ---------------------------------------------------------------------------------------
  // Buttons.

  /** Leaves the session (the visitor's session goes on). */
  function leave() {
    if (S.final) return false;
    S.final = true;
    if (S.tool) { send({ t: 'gesture', kind: 'clear' }); setTool(''); }
    if (S.rc.enabled || S.rc.state === 'requested') send({ t: 'rc', on: false });
    closeSocket();
    queue.length = 0;
    clearMirror();
    setState('left');
    showMessage('You left the session', 'The visitor\u2019s session goes on without you.');
    emitEnded('AgentLeft');
    return true;
  }
  ui.leave.addEventListener('click', leave);

  ui.end.addEventListener('click', () => {
    if (!send({ t: 'end' })) setConn('not connected');
  });

  ui.pause.addEventListener('click', () => {
    if (!pub.pause(S.state !== 'paused')) setConn('not connected');
  });

  // ---------------------------------------------------------------------------------------
  // Start.

  renderHeader();
  layout();
  if (!key || !/^[A-Za-z0-9_-]{1,64}$/.test(key)) {
    S.final = true;
    setState('notfound');
    showMessage('Session not found', key ? 'The session key is not valid.' : 'No session key was given.');
  } else {
    setState('waiting');
    showMessage(waitMode ? 'Waiting for the visitor\u2026' : 'Connecting\u2026', '');
    // The mirror document is ready before the first snapshot arrives (usually).
    prepareFrame(true);
    emit('connecting', { groupid: group || '', visitorid: key, ssnkey: key, service: 'cobrowse' });
    if (loginKey) {
      loginWith({ partnerid: /^\d+$/.test(loginKey.partnerid) ? Number(loginKey.partnerid) : loginKey.partnerid,
        partneruserid: loginKey.partneruserid, loginkey: loginKey.loginkey }).then((err) => {
        if (err) showLogin('The login key was refused (' + err + '). Sign in to join the session.');
        else connect();
      });
    } else if (S.ticket) {
      // The join ticket is traded for a token (and the cookie), so a dropped socket can reconnect.
      const ticket = S.ticket;
      S.ticket = null;
      loginWith({ ticket }).then((err) => {
        if (err) showLogin('The join link has expired (' + err + '). Sign in to join the session.');
        else connect();
      });
    } else {
      connect();
    }
  }
})();
