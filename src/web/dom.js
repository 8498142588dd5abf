// DOM capture for the glance-cobrowse engine (imported by src/web/dom.rs through wasm-bindgen).
//
// This file only reads the page and flattens it; every decision about what may leave the page
// (masking, attribute filtering, script bodies) is made in Rust (src/capture.rs), whose module
// docs define the flat format produced here. Strings cross to wasm as one joined string with
// their UTF-16 lengths in the number stream; tag and attribute names cross once per page.
//
// Our own `data-gid` writes happen while the MutationObserver is disconnected (synchronously,
// so no page mutation can be missed: pending records are taken first) and never become diffs.

import { frameOrigin, nextFrameBase, remapFrameBatch } from './frames.js';

// The flat format's codes (src/capture.rs `entry`, `flag`); frames.js reads them too.
export const NODE = 1, CHILDREN = 2, END = 3, ATTRS = 4, TEXT = 5, VALUE = 6, CHECKED = 7, SCROLL = 8, VIEWPORT = 9;
// State entries (see src/capture.rs `entry`): written after the node entries of a batch.
export const SHEET = 10, CSHEET = 11, ADOPT = 12, SELECT = 13, FOCUS = 14, HOVER = 15, MEDIA = 16, IMAGE = 17, TOP = 18;
const CANVAS_MS = 1000;
export const F_MASK = 1, F_VALUE = 2, F_CHECKED = 4, F_HAS_CHECKED = 8, F_SVG = 16, F_MATH = 32;
const SVG_NS = 'http://www.w3.org/2000/svg';
const MATH_NS = 'http://www.w3.org/1998/Math/MathML';
const XLINK_NS = 'http://www.w3.org/1999/xlink';
const OBSERVE = { childList: true, subtree: true, attributes: true, characterData: true };
// Always masked, whatever the group's rules: passwords and hidden inputs (tokens).
const ALWAYS_MASKED = 'input[type=password i],input[type=hidden i]';
const FLUSH_MS = 30;
const NO_NAMES = [];
const POLL_MS = 500;

/** The selected option indexes of a `<select>`. */
const selectedOf = (el) => {
  const out = [];
  const o = el.options;
  for (let i = 0; i < o.length; i++) if (o[i].selected) out.push(i);
  return out;
};
/** The state of a form control the agent sees: its checked flag, selection or value. */
const controlState = (el) => (el.type === 'checkbox' || el.type === 'radio' ? el.checked
  : el.localName === 'select' ? selectedOf(el).join() : String(el.value));

/** A stylesheet's rules as text, or null when they cannot be read (cross-origin). */
function rulesText(sheet) {
  try {
    const rules = sheet.cssRules;
    let t = '';
    for (let i = 0; i < rules.length; i++) t += rules[i].cssText + '\n';
    return t;
  } catch (_) {
    return null;
  }
}

// Constructed stylesheets get page-wide ids (symbol-keyed, like gids).
const SHEET_ID = Symbol('glance-sheet');
let nextSheet = 1;
const sheetId = (sh) => sh[SHEET_ID] || (sh[SHEET_ID] = nextSheet++);
/** `<style>` sheets changed through the CSSOM since the page loaded (their text is stale). */
const touchedSheets = new WeakSet();

/**
 * The CSSOM methods that change a stylesheet without touching the DOM are wrapped (once,
 * calling the original first): CSS-in-JS libraries insert their rules this way, and
 * constructed sheets change only this way.
 */
function watchStylesheets() {
  const wrap = (proto, name, sheetOf) => {
    const orig = proto && proto[name];
    if (typeof orig !== 'function') return;
    proto[name] = function () {
      const r = orig.apply(this, arguments);
      try {
        const sh = sheetOf(this);
        if (sh) {
          touchedSheets.add(sh);
          if (active !== null) active.sheetChanged(sh);
        }
      } catch (_) { /* never break the page */ }
      return r;
    };
  };
  const S = typeof CSSStyleSheet !== 'undefined' ? CSSStyleSheet.prototype : null;
  for (const m of ['insertRule', 'deleteRule', 'addRule', 'removeRule', 'replace', 'replaceSync']) wrap(S, m, (x) => x);
  const G = typeof CSSGroupingRule !== 'undefined' ? CSSGroupingRule.prototype : null;
  for (const m of ['insertRule', 'deleteRule']) wrap(G, m, (x) => x.parentStyleSheet);
}
// Per-node gid, kept as a symbol-keyed property: invisible to page code, and much cheaper than a
// WeakMap lookup on a 100k-node walk.
const GID = Symbol('glance-gid');
// Gids are unique per page, whichever capture assigned them (a capture is recreated on resume).
let nextGid = 1;
// The gid block of a cross-origin frame linked to this page (see frames.js), kept on the iframe.
const FRAME_BASE = Symbol('glance-frame');
// The engine's own nodes in the page (the remote-control overlay, a link it clicks): never
// walked, never in a diff. `anyHidden` keeps the common case (none) free of lookups.
const hidden = new WeakSet();
let anyHidden = false;
/** Marks `n` as the engine's own: the capture never sends it nor the mutations it causes. */
export function hideNode(n) { hidden.add(n); anyHidden = true; }
const isHidden = (n) => anyHidden && hidden.has(n);
/**
 * True when element `n` is masked or inside a masked element for the running capture; with no
 * capture (masks unknown) or a non-element, true: callers (the visitor UI's announcements) then
 * say nothing about it.
 */
export function maskedNode(n) {
  try { return active === null || !n || n.nodeType !== 1 || active.isMasked(n) || active.insideMask(n); } catch (_) { return true; }
}

const yieldTask = () => new Promise((resolve) => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => resolve();
  ch.port2.postMessage(0);
});

/** Index of the first selector the browser rejects, or -1. */
export function invalidSelector(json) {
  const list = JSON.parse(json);
  const frag = document.createDocumentFragment();
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'string' || !list[i].trim()) return i;
    try { frag.querySelector(list[i]); } catch (_) { return i; }
  }
  return -1;
}

/** True in a same-origin frame whose page runs the engine too (that engine captures us). */
export function insideEnginePage() {
  try {
    const p = window.parent;
    return p !== window && !!(p.GLANCE && p.GLANCE.Cobrowse && p.GLANCE.Cobrowse.Loader);
  } catch (_) {
    return false;
  }
}

/**
 * Session end: removes every `data-gid` attribute the engine wrote and forgets the elements' ids
 * (top document, open shadow roots, same-origin frames), so a later session tags the page afresh.
 */
export function clearGids() {
  const clear = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.hasAttribute('data-gid')) el.removeAttribute('data-gid');
      delete el[GID];
      const sr = el.shadowRoot;
      if (sr) { delete sr[GID]; clear(sr); }
      if (el.localName === 'iframe' || el.localName === 'frame') {
        let d = null;
        try { d = el.contentDocument; } catch (_) { /* another origin */ }
        if (d) { delete d[GID]; clear(d); }
      }
    }
  };
  try { clear(document); } catch (e) { console.error('glance: clearing data-gid failed', e); }
}

/** Page facts for a snapshot header. */
export function pageMeta() {
  return {
    url: location.href, base: document.baseURI, title: document.title,
    vw: innerWidth, vh: innerHeight, sx: Math.max(0, scrollX), sy: Math.max(0, scrollY),
  };
}

/** The composed parent: the parent node, a shadow root's host, a frame document's iframe. */
const upOf = (n) => n.parentNode || (n.nodeType === 11 ? n.host : n.nodeType === 9 ? frameOf(n) : null);

/** True when `node` or one of its ancestors (across shadow roots and frames) is in `added`. */
const underAdded = (node, added) => {
  for (let a = node; a && a !== document; a = upOf(a)) if (added.has(a)) return true;
  return false;
};

/** The running capture, told of shadow roots attached after it walked their host. */
let active = null;
let patched = false;

/**
 * `attachShadow` is wrapped (once, calling the original first) because attaching a shadow root
 * makes no mutation record: a custom element upgraded after the snapshot would stay empty.
 */
function watchAttachShadow() {
  if (patched || typeof Element === 'undefined' || !Element.prototype.attachShadow) return;
  patched = true;
  watchStylesheets();
  const orig = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function attachShadow(init) {
    const root = orig.call(this, init);
    if (active !== null) {
      try { active.shadowAttached(this); } catch (_) { /* never break the page */ }
    }
    return root;
  };
}

/** The iframe element holding `doc` (same-origin only), or null. */
function frameOf(doc) {
  try {
    const w = doc.defaultView;
    return (w && w.frameElement) || null;
  } catch (_) {
    return null;
  }
}

/**
 * The content root captured under element `el`: its open shadow root, or the document of a
 * same-origin iframe (a cross-origin or script-less sandboxed frame has none: a placeholder).
 */
function contentRoot(el) {
  const sr = el.shadowRoot;
  if (sr) return sr;
  const ln = el.localName;
  if (ln === 'iframe' || ln === 'frame') {
    try {
      const d = el.contentDocument;
      if (d && d.documentElement !== undefined) return d;
    } catch (_) { /* cross-origin */ }
  }
  return null;
}

/** True when `n` is still part of the page (through shadow hosts and frames). */
function alive(n) {
  if (n === document) return true;
  if (n.nodeType === 9) {
    const fe = frameOf(n);
    return !!fe && fe.contentDocument === n && alive(fe);
  }
  if (n.nodeType === 11) return !!n.host && n.host.shadowRoot === n && alive(n.host);
  if (!n.isConnected) return false;
  const r = n.getRootNode();
  return r === document || alive(r);
}

const px = (n) => (n > 0 ? Math.min(Math.round(n), 0x7fffffff) : 0);
/** A MEDIA entry: paused, time (ms), rate (thousandths), muted. */
const mediaEntry = (el, g) => [MEDIA, g, el.paused ? 1 : 0, px(el.currentTime * 1000),
  px(el.playbackRate * 1000), el.muted ? 1 : 0];

export class DomCapture {
  constructor(selectorsJson, notify) {
    const user = JSON.parse(selectorsJson);
    this.sel = user.concat([ALWAYS_MASKED]).join(',');
    this.selText = this.sel.toLowerCase();
    this.hasUserSel = user.length > 0;
    this.notify = notify;
    this.names = new Map();
    this.newNames = [];
    this.buf = new Uint32Array(1 << 14);
    this.len = 0;
    this.strs = [];
    this.untagged = [];
    this.tagging = false;
    this.pending = [];
    this.values = new Set();
    this.scrolls = new Set();
    this.viewportDirty = false;
    this.masked = new WeakSet();
    // Form controls sent, with the value/checked state the agent has: polled, because script
    // (React and friends) sets `.value`/`.checked` without any event.
    this.controls = new Set();
    this.sentState = new WeakMap();
    this.poll = 0;
    this.base = '';
    this.everPassword = new WeakSet();
    this.maskSet = null;
    this.maskDirty = true;
    this.timer = 0;
    this.running = false;
    this.epoch = 0;
    this.sn = []; this.sp = []; this.se = [];
    const onRecords = (recs) => {
      this.pending.push(recs); // record lists, flattened by collect
      this.maskDirty = true;
      this.schedule();
    };
    this.mo = new MutationObserver(onRecords);
    // Shadow roots and frame documents: observed for good (never paused; our own `data-gid`
    // writes there are skipped by collect), with the listeners events do not bring out of them.
    this.rootMo = new MutationObserver(onRecords);
    this.listened = new Set();
    this.hostsChanged = new Set();
    // Cross-origin iframes met while walking, the ones whose own engine linked up, and their
    // checked entries waiting for the next batch.
    this.xframes = new Set();
    this.frames = new Map();
    this.frameOut = [];
    this.onMessage = (e) => { try { this.frameMessage(e); } catch (_) { /* a bad message */ } };
    // State sent after the nodes: stylesheets, selections, focus, hover, media, canvases, top
    // layer. `later` holds state entries met while walking, written once the nodes are.
    this.later = [];
    this.stylesDirty = new Set();
    this.sheetsDirty = new Set();
    this.sheetsSent = new WeakSet();
    this.adoptSent = new WeakMap();
    this.focusDirty = false;
    this.hover = null;
    this.hoverDirty = false;
    this.mediaDirty = new Set();
    this.topDirty = new Set();
    this.canvases = new Set();
    this.canvasSent = new WeakMap();
    this.canvasTimer = 0;
    this.canvasNext = 0;
    this.onFocus = () => { this.focusDirty = true; this.schedule(); };
    this.onPointer = (e) => {
      const t = e.type === 'pointerout' && !e.relatedTarget ? null : (e.composedPath ? e.composedPath()[0] : e.target);
      if (t === this.hover || (t && t.nodeType !== 1)) return;
      this.hover = t;
      this.hoverDirty = true;
      this.schedule();
    };
    this.onMedia = (e) => {
      const t = e.target;
      if (t && (t.localName === 'video' || t.localName === 'audio') && this.has(t)) { this.mediaDirty.add(t); this.schedule(); }
    };
    this.onToggle = (e) => {
      const t = e.composedPath ? e.composedPath()[0] : e.target;
      if (t && t.nodeType === 1 && this.has(t)) { this.topDirty.add(t); this.schedule(); }
    };
    this.onLoad = (e) => {
      const t = e.target;
      if (t && t.nodeType === 1 && (t.localName === 'iframe' || t.localName === 'frame') && this.has(t)) {
        this.hostsChanged.add(t);
        this.schedule();
      }
    };
    this.fire = () => {
      this.timer = 0;
      try { this.notify(); } catch (e) { console.error('glance: capture flush failed', e); }
    };
    this.onInput = (e) => {
      const t = e.composedPath ? e.composedPath()[0] : e.target;
      if (!t || t.nodeType !== 1) return;
      this.values.add(t);
      if (t.type === 'radio' && t.name) {
        const scope = t.form || document;
        for (const r of scope.querySelectorAll('input[type=radio]')) if (r.name === t.name) this.values.add(r);
      }
      this.schedule();
    };
    this.onScroll = (e) => {
      const t = e.composedPath ? e.composedPath()[0] : e.target;
      if (t && t.nodeType === 9 && t !== document) {
        // A frame document's own scroll: its root element carries the position.
        if (t.scrollingElement) this.scrolls.add(t.scrollingElement);
        this.schedule();
        return;
      }
      this.scrolls.add(t === document || t === document.documentElement || t === document.scrollingElement ? window : t);
      this.schedule();
    };
    this.onResize = () => { this.viewportDirty = true; this.scrolls.add(window); this.schedule(); };
  }

  start() {
    if (this.running) return;
    this.running = true;
    active = this;
    watchAttachShadow();
    this.mo.observe(document, OBSERVE);
    this.listeners(document, true);
    window.addEventListener('message', this.onMessage);
    window.addEventListener('resize', this.onResize, { passive: true });
    this.canvasTimer = setInterval(() => this.canvasTick(), CANVAS_MS);
    this.poll = setInterval(() => { if (this.controlsChanged() || this.adoptionsChanged()) this.schedule(); }, POLL_MS);
  }

  stop() {
    this.epoch++;
    clearInterval(this.poll);
    this.poll = 0;
    this.running = false;
    this.mo.disconnect();
    this.listeners(document, false);
    window.removeEventListener('message', this.onMessage);
    for (const f of this.frames.values()) this.postFrame(f.el, { glance: 'frame-end' });
    this.frames.clear(); this.xframes.clear(); this.frameOut = [];
    clearInterval(this.canvasTimer);
    this.canvasTimer = 0;
    window.removeEventListener('resize', this.onResize, { passive: true });
    this.rootMo.disconnect();
    if (active === this) active = null;
    this.later = [];
    for (const r of this.listened) this.listeners(r, false);
    this.listened.clear();
    this.hostsChanged.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    this.pending = [];
  }

  /** True when a tracked control's value or checked state differs from what was sent. */
  controlsChanged() {
    for (const el of this.controls) {
      if (!el.isConnected) { this.controls.delete(el); continue; }
      if (this.sentState.get(el) !== controlState(el)) return true;
    }
    return false;
  }

  schedule() {
    if (!this.timer && this.running) this.timer = setTimeout(this.fire, FLUSH_MS);
  }

  /** Disconnects the observer, keeping every record it still holds. */
  pause() {
    const taken = this.mo.takeRecords();
    if (taken.length) this.pending.push(taken);
    const inRoots = this.rootMo.takeRecords();
    if (inRoots.length) this.pending.push(inRoots);
    this.mo.disconnect();
  }

  /** Every element a mask selector matches: in the page and in each content root entered. */
  maskMatches() {
    const set = new Set(document.querySelectorAll(this.sel));
    for (const r of this.listened) for (const m of r.querySelectorAll(this.sel)) set.add(m);
    return set;
  }

  /** Posts `msg` to an iframe's window, to exactly the origin of its src. */
  postFrame(el, msg) {
    const origin = frameOrigin(el);
    if (!origin) return;
    try { el.contentWindow.postMessage(msg, origin); } catch (_) { /* gone */ }
  }

  /** A cross-origin iframe was sent (as a placeholder): its own engine, if any, is asked in. */
  frameSeen(el) {
    this.xframes.add(el);
    if (!el[FRAME_BASE]) el[FRAME_BASE] = nextFrameBase();
    if (el[FRAME_BASE]) this.postFrame(el, { glance: 'frame-join', base: el[FRAME_BASE], sel: this.sel });
  }

  /** Messages from linked frames (exact window and origin; see frames.js). */
  frameMessage(e) {
    const d = e.data;
    if (!d || typeof d !== 'object' || (d.glance !== 'frame-hello' && d.glance !== 'frame-batch')) return;
    for (const el of this.xframes) {
      if (el.contentWindow !== e.source) continue;
      if (!alive(el) || !this.has(el) || !el[FRAME_BASE]) return;
      const origin = frameOrigin(el);
      if (!origin || origin !== e.origin) return;
      let f = this.frames.get(el);
      if (d.glance === 'frame-hello') {
        this.postFrame(el, { glance: 'frame-join', base: el[FRAME_BASE], sel: this.sel });
        return;
      }
      if (d.snap || !f || f.win !== e.source) {
        // A snapshot (or a new engine in the frame): its names start over.
        f = { el, win: e.source, base: el[FRAME_BASE], docGid: el[FRAME_BASE], hostGid: el[GID], names: [] };
        this.frames.set(el, f);
        if (!d.snap) { this.postFrame(el, { glance: 'frame-snap' }); return; }
      }
      f.hostGid = el[GID];
      try {
        this.frameOut.push(remapFrameBatch(f, d, (n) => this.name(n)));
      } catch (_) {
        // Not well formed or out of its block: dropped, and the frame starts over.
        this.frames.delete(el);
        this.postFrame(el, { glance: 'frame-snap' });
        return;
      }
      this.schedule();
      return;
    }
  }

  /** An element got a shadow root: open ones are sent with the element's child list. */
  shadowAttached(host) {
    if (this.has(host) && host.shadowRoot) {
      this.hostsChanged.add(host);
      this.schedule();
    }
  }

  /** Starts watching a content root that was just sent (observer and event listeners). */
  watchRoot(root) {
    if (this.listened.has(root)) return;
    this.listened.add(root);
    this.rootMo.observe(root, OBSERVE);
    this.listeners(root, true);
  }

  /**
   * Adds (`on`) or removes every capture listener of a document or content root: input values,
   * scrolls, frame loads, focus, hover, media and top-layer state (events that do not leave a
   * shadow root or frame are listened for on each).
   */
  listeners(root, on) {
    const opts = { capture: true, passive: true };
    const f = on ? 'addEventListener' : 'removeEventListener';
    for (const [type, handler] of [['input', this.onInput], ['change', this.onInput],
      ['scroll', this.onScroll], ['load', this.onLoad], ['focusin', this.onFocus], ['focusout', this.onFocus],
      ['pointerover', this.onPointer], ['pointerout', this.onPointer], ['play', this.onMedia],
      ['pause', this.onMedia], ['seeked', this.onMedia], ['ratechange', this.onMedia],
      ['volumechange', this.onMedia], ['toggle', this.onToggle], ['close', this.onToggle]]) {
      root[f](type, handler, opts);
    }
  }

  /** A stylesheet changed through the CSSOM. */
  sheetChanged(sh) {
    const owner = sh.ownerNode;
    if (owner) {
      if (owner.localName === 'style' && this.has(owner)) { this.stylesDirty.add(owner); this.schedule(); }
    } else if (this.sheetsSent.has(sh)) {
      this.sheetsDirty.add(sh);
      this.schedule();
    }
  }

  /** The sheet ids `root` (the document or a content root) adopts, joined ('' when none). */
  adoptedKey(root) {
    let list;
    try { list = root.adoptedStyleSheets; } catch (_) { return ''; }
    if (!list || !list.length) return '';
    let key = '';
    for (const sh of list) key += (key ? ',' : '') + sheetId(sh);
    return key;
  }

  /** Queues the adoptedStyleSheets of `root` when they differ from what was sent. */
  adoption(root) {
    const key = this.adoptedKey(root);
    if ((this.adoptSent.get(root) || '') === key) return;
    this.adoptSent.set(root, key);
    const ids = [];
    for (const sh of key ? root.adoptedStyleSheets : []) {
      ids.push(sheetId(sh));
      if (!this.sheetsSent.has(sh)) {
        this.sheetsSent.add(sh);
        const t = rulesText(sh);
        this.later.push([CSHEET, sheetId(sh), t === null ? '' : t]);
      }
    }
    this.later.push([ADOPT, root === document ? 0 : this.gidOf(root), ids]);
  }

  /** True when the document or a content root adopts other sheets than were sent (polled:
   * `adoptedStyleSheets` can change in place, without any event). */
  adoptionsChanged() {
    if ((this.adoptSent.get(document) || '') !== this.adoptedKey(document)) return (this.adoptDirty = true);
    for (const r of this.listened) {
      if ((this.adoptSent.get(r) || '') !== this.adoptedKey(r)) return (this.adoptDirty = true);
    }
    return false;
  }

  /** State entries of an element just written (stylesheet rules, selection, media, top layer). */
  elementState(n, ln, g) {
    if (ln === 'style') {
      const sh = n.sheet;
      if (sh && (touchedSheets.has(sh) || (sh.cssRules.length && !n.textContent.trim()))) {
        const t = rulesText(sh);
        if (t !== null) this.later.push([SHEET, g, t]);
      }
    } else if (ln === 'select') {
      this.later.push([SELECT, g, selectedOf(n)]);
    } else if (ln === 'video' || ln === 'audio') {
      if (!n.paused || n.currentTime > 0) this.later.push(mediaEntry(n, g));
    } else if (ln === 'canvas') {
      this.canvases.add(n);
    } else if (ln === 'dialog') {
      if (n.open) this.later.push([TOP, g, 1, n.matches(':modal') ? 1 : 0]);
    }
  }

  /** Writes the queued state entries (after every node entry of the batch). */
  flushLater() {
    for (const e of this.later) {
      this.w(e[0]); this.w(e[1]);
      switch (e[0]) {
        case SHEET: case CSHEET: case IMAGE: this.str(e[2]); break;
        case ADOPT: case SELECT: this.w(e[2].length); for (const x of e[2]) this.w(x); break;
        case MEDIA: this.w(e[2]); this.w(e[3]); this.w(e[4]); this.w(e[5]); break;
        case TOP: this.w(e[2]); this.w(e[3]); break;
        default: break;
      }
    }
    this.later = [];
  }

  /** Collects the state that changed since the last batch into `later`. */
  collectState() {
    if (this.adoptDirty) {
      this.adoptDirty = false;
      this.adoption(document);
      for (const r of this.listened) if (alive(r)) this.adoption(r);
    }
    for (const el of this.stylesDirty) {
      if (this.has(el) && alive(el) && !this.insideMask(el)) {
        const t = rulesText(el.sheet || {});
        if (t !== null) this.later.push([SHEET, this.gidOf(el), t]);
      }
    }
    this.stylesDirty.clear();
    for (const sh of this.sheetsDirty) {
      const t = rulesText(sh);
      if (t !== null) this.later.push([CSHEET, sheetId(sh), t]);
    }
    this.sheetsDirty.clear();
    for (const el of this.mediaDirty) if (alive(el)) this.later.push(mediaEntry(el, this.gidOf(el)));
    this.mediaDirty.clear();
    for (const el of this.topDirty) {
      if (!alive(el)) continue;
      const dialog = el.localName === 'dialog';
      let open = false;
      try { open = dialog ? el.open : el.matches(':popover-open'); } catch (_) { open = false; }
      this.later.push([TOP, this.gidOf(el), open ? 1 : 0, dialog && open && el.matches(':modal') ? 1 : 0]);
    }
    this.topDirty.clear();
    if (this.focusDirty) {
      this.focusDirty = false;
      this.later.push([FOCUS, this.focusGid()]);
    }
    if (this.hoverDirty) {
      this.hoverDirty = false;
      const h = this.hover;
      this.later.push([HOVER, h && this.has(h) && alive(h) ? h[GID] : 0]);
    }
  }

  /** The gid of the focused element, through shadow roots and frames (0: none). */
  focusGid() {
    let a = document.activeElement;
    for (let i = 0; a && i < 32; i++) {
      if (a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
      else if ((a.localName === 'iframe' || a.localName === 'frame') && contentRoot(a) && contentRoot(a).activeElement) a = contentRoot(a).activeElement;
      else break;
    }
    if (!a || a === document.body || a === document.documentElement || !this.has(a)) return 0;
    return a[GID];
  }

  /**
   * Every second (and right after a snapshot): the pictures of changed canvases, round robin
   * within a few milliseconds, never of a masked canvas; a tainted canvas is dropped.
   */
  canvasTick() {
    if (!this.running || !this.canvases.size) return;
    const list = Array.from(this.canvases);
    const deadline = performance.now() + 8;
    let sent = false;
    for (let i = 0; i < list.length && performance.now() < deadline; i++) {
      const k = (this.canvasNext + i) % list.length;
      const c = list[k];
      this.canvasNext = k + 1;
      if (!alive(c)) { this.canvases.delete(c); continue; }
      if (this.insideMask(c) || !c.width || !c.height) continue;
      let url;
      try { url = c.toDataURL('image/webp', 0.8); } catch (_) { this.canvases.delete(c); continue; }
      if (this.canvasSent.get(c) === url) continue;
      this.canvasSent.set(c, url);
      this.later.push([IMAGE, this.gidOf(c), url]);
      sent = true;
    }
    if (sent) this.schedule();
  }

  resume() {
    if (this.running) this.mo.observe(document, OBSERVE);
  }

  name(n) {
    let id = this.names.get(n);
    if (id === undefined) {
      id = this.names.size;
      this.names.set(n, id);
      this.newNames.push(n);
    }
    return id;
  }

  /** Appends one number to the batch. */
  w(x) {
    if (this.len === this.buf.length) {
      const nb = new Uint32Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.len++] = x;
  }

  str(s) {
    this.w(s.length);
    this.strs.push(s);
  }

  has(n) {
    return n[GID] !== undefined;
  }

  gidOf(n) {
    let g = n[GID];
    if (g === undefined) {
      g = nextGid++;
      n[GID] = g;
    }
    return g;
  }

  /**
   * Gives an element its gid. The `data-gid` attribute is written later, in idle slices (see
   * `tagSome`): records already carry it, so a 100k-node snapshot is not held up by 60k
   * attribute writes. `now` writes it at once (new nodes in a diff).
   */
  tagged(el, now) {
    let g = el[GID];
    if (g === undefined) {
      g = nextGid++;
      el[GID] = g;
      if (now) el.setAttribute('data-gid', g); else this.untagged.push(el);
    } else if (now && el.getAttribute('data-gid') !== String(g)) {
      el.setAttribute('data-gid', g);
    }
    return g;
  }

  /**
   * The element with gid `g` on the page (top document, open shadow roots and same-origin frames
   * the capture entered), or null. The `data-gid` attribute finds it at once; an element whose
   * attribute is not written yet (or was changed by the page) is found by its gid property.
   */
  find(g) {
    const roots = [document];
    for (const r of this.listened) if (alive(r)) roots.push(r);
    const q = '[data-gid="' + g + '"]';
    for (const r of roots) {
      const el = r.querySelector(q);
      if (el !== null && el[GID] === g) return el;
    }
    for (const r of roots) for (const el of r.querySelectorAll('*')) if (el[GID] === g) return alive(el) ? el : null;
    return null;
  }

  /** Writes `el`'s `data-gid` now (observer disconnected), so `[data-gid="N"]` finds it. */
  tagNow(el) {
    const g = el[GID];
    if (g === undefined || el.getAttribute('data-gid') === String(g)) return;
    this.pause();
    try { el.setAttribute('data-gid', g); } finally { this.resume(); }
  }

  /** Writes pending `data-gid` attributes in slices, observer disconnected. */
  tagSome() {
    if (this.tagging || !this.untagged.length) return;
    this.tagging = true;
    const step = () => {
      if (!this.running) { this.tagging = false; return; }
      this.pause();
      try {
        const q = this.untagged;
        const deadline = performance.now() + 8;
        let i = q.length;
        while (i > 0) {
          const el = q[--i];
          const g = el[GID];
          if (g !== undefined && el.getAttribute('data-gid') !== String(g)) el.setAttribute('data-gid', g);
          if ((i & 255) === 0 && performance.now() > deadline) break;
        }
        q.length = i;
      } finally {
        this.resume();
      }
      if (this.untagged.length) setTimeout(step, 0); else this.tagging = false;
    };
    setTimeout(step, 0);
  }

  /** Mask decision for one element; a password input stays masked after a `type` toggle. */
  isMasked(el) {
    if (el.localName === 'input' && this.everPassword.has(el)) return true;
    let m;
    if (this.maskSet) m = this.maskSet.has(el);
    else try { m = el.matches(this.sel); } catch (_) { m = true; }
    if (m && el.localName === 'input' && el.type === 'password') this.everPassword.add(el);
    return m;
  }

  /**
   * Whether changing attribute `name` can change which elements the mask selectors match: only
   * when the selectors mention it (`class` through `.`, `id` through `#`, others by name).
   */
  mayAffectMask(name) {
    const t = this.selText;
    const n = name.toLowerCase();
    if (n === 'class') return t.includes('.') || t.includes('class');
    if (n === 'id') return t.includes('#') || t.includes('id');
    return t.includes(n);
  }

  /** True when `n` is inside a masked element (also through shadow hosts and frames). */
  insideMask(n) {
    for (let i = 0; n && i < 64; i++) {
      if (n.nodeType === 1) {
        try { if (n.closest(this.sel) !== null) return true; } catch (_) { return true; }
      }
      const r = n.getRootNode();
      if (r === document) return false;
      n = r.nodeType === 11 ? r.host : r.nodeType === 9 ? frameOf(r) : null;
    }
    return false;
  }

  /** Emits one node; returns whether its children are emitted (false: tag them only). */
  emitNode(n, p, now) {
    const t = n.nodeType;
    if (t === 1) {
      const g = this.tagged(n, now);
      let flags = 0;
      const ns = n.namespaceURI;
      if (ns === SVG_NS) flags |= F_SVG; else if (ns === MATH_NS) flags |= F_MATH;
      const masked = this.isMasked(n);
      const ln = n.localName;
      if (masked) {
        flags |= F_MASK;
        this.masked.add(n);
      } else if (ln === 'input' || ln === 'textarea' || ln === 'select') {
        const type = n.type;
        if (type === 'checkbox' || type === 'radio') flags |= F_HAS_CHECKED | (n.checked ? F_CHECKED : 0);
        else if (ln !== 'select') flags |= F_VALUE;
        this.controls.add(n);
        this.sentState.set(n, controlState(n));
      }
      // getAttributeNames + getAttribute: no Attr node is created per attribute. `data-gid` is
      // not sent: the wasm side writes it from the gid (whether or not it is in the DOM yet).
      const names = n.hasAttributes() ? n.getAttributeNames() : NO_NAMES;
      const na = names.length;
      this.w(NODE); this.w(flags); this.w(g); this.w(p); this.w(1); this.w(this.name(ln));
      const countAt = this.len;
      this.w(0);
      let count = 0;
      let popover = false;
      for (let i = 0; i < na; i++) {
        const an = names[i];
        if (an === 'data-gid') continue;
        if (an === 'popover') popover = true;
        this.w(this.name(an));
        this.str(n.getAttribute(an));
        count++;
      }
      this.buf[countAt] = count;
      if (!masked) {
        this.elementState(n, ln, g);
        if (popover) {
          let open = false;
          try { open = n.matches(':popover-open'); } catch (_) { open = false; }
          if (open) this.later.push([TOP, g, 1, 0]);
        }
      }
      if (masked) {
        const r = n.getBoundingClientRect();
        this.w(px(r.width)); this.w(px(r.height));
      }
      if (flags & F_VALUE) this.str(String(n.value));
      return !masked && ln !== 'script';
    }
    if (t === 3 || t === 8) {
      this.w(NODE); this.w(0); this.w(this.gidOf(n)); this.w(p); this.w(t);
      this.str(n.data);
    } else if (t === 10) {
      this.w(NODE); this.w(0); this.w(this.gidOf(n)); this.w(p); this.w(10);
      this.str(n.name);
    } else if (t === 9 || t === 11) {
      // A content root (first among its host's children): base URL or mode, then its children.
      this.w(NODE); this.w(0); this.w(this.gidOf(n)); this.w(p); this.w(t);
      this.w(this.name(t === 9 ? '#document' : '#shadow-root'));
      this.str(t === 9 ? n.baseURI : n.mode);
      this.watchRoot(n);
      this.adoption(n);
      if (this.maskSet) for (const m of n.querySelectorAll(this.sel)) this.maskSet.add(m);
      return true;
    }
    return false;
  }

  stackInit(nodes, parentGid) {
    this.sn = []; this.sp = []; this.se = [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      this.sn.push(nodes[i]); this.sp.push(parentGid); this.se.push(true);
    }
  }

  /** Walks from the stack until it is empty (true) or the deadline passes (false). */
  walkSome(deadline, seen, now) {
    const sn = this.sn, sp = this.sp, se = this.se;
    let count = 0;
    while (sn.length) {
      if ((++count & 63) === 0 && performance.now() > deadline) return false;
      const n = sn.pop(), p = sp.pop(), emit = se.pop();
      if (anyHidden && hidden.has(n)) continue;
      if (seen !== null) {
        if (seen.has(n)) continue;
        seen.add(n);
      }
      let kids;
      if (emit) {
        kids = this.emitNode(n, p, now);
      } else {
        if (n.nodeType === 1) this.tagged(n, now); else this.gidOf(n);
        kids = false;
      }
      const g = n[GID];
      for (let c = n.lastChild; c; c = c.previousSibling) {
        sn.push(c); sp.push(g); se.push(kids);
      }
      if (kids && n.nodeType === 1) {
        const root = contentRoot(n);
        if (root !== null) { sn.push(root); sp.push(g); se.push(true); }
        else if (n.localName === 'iframe' && emit) this.frameSeen(n);
      }
    }
    return true;
  }

  batch() {
    const b = { ints: this.buf.slice(0, this.len), strs: this.strs.join(''), names: this.newNames.join('\0') };
    this.len = 0; this.strs = []; this.newNames = [];
    if (this.buf.length > (1 << 20)) this.buf = new Uint32Array(1 << 14);
    return b;
  }

  /**
   * A full snapshot, walked in time slices of `budgetMs` so no task blocks the page; each
   * slice's nodes go to `onChunk(batch)` at once, so the wasm side's work is sliced too.
   */
  async snapshot(budgetMs, onChunk) {
    const epoch = this.epoch;
    await yieldTask(); // a task of its own: the caller's task (a socket message) stays short
    // Stopped meanwhile (the session ended or paused in the caller's task): starting now would
    // leave a capture running that nobody reads.
    if (epoch !== this.epoch) throw new Error('capture stopped');
    this.start();
    this.pause();
    this.pending = [];
    this.values.clear(); this.scrolls.clear(); this.viewportDirty = false;
    this.len = 0; this.strs = [];
    // The agent starts from nothing: every stylesheet, adoption and state is sent again.
    this.later = [];
    this.sheetsSent = new WeakSet();
    this.adoptSent = new WeakMap();
    this.canvasSent = new WeakMap();
    this.stylesDirty.clear(); this.sheetsDirty.clear(); this.mediaDirty.clear(); this.topDirty.clear();
    this.adoption(document);
    // No `seen` set here: a node moved during a yield may be met twice; the Rust side keeps the
    // first record of a gid and drops the repeat (the following diff fixes its position).
    const seen = null;
    this.maskDirty = true;
    this.base = document.baseURI;
    this.stackInit(Array.from(document.childNodes), 0);
    // The budget is for the whole slice, the engine's work on the chunk included: the walk gets
    // the share of it that walking took in the slice before (a slow device or a heavy page
    // makes the engine's share larger).
    let walkMs = budgetMs / 3;
    for (;;) {
      let t0 = performance.now();
      this.pause();
      let done;
      try {
        if (this.maskDirty) {
          this.maskSet = this.maskMatches();
          this.maskDirty = false;
          const t = performance.now();
          // Matching the masks over a big page can take a slice of its own.
          if (t - t0 > budgetMs / 2) {
            this.resume();
            await yieldTask();
            if (!this.running) throw new Error('capture stopped');
            this.pause();
            if (this.maskDirty) this.maskSet = this.maskMatches();
            this.maskDirty = false;
          }
          t0 = performance.now();
        }
        done = this.walkSome(t0 + walkMs, seen, false);
      } finally {
        this.maskSet = null;
        this.resume();
      }
      const t1 = performance.now();
      if (done) {
        this.later.push([FOCUS, this.focusGid()]);
        this.focusDirty = false;
      }
      this.flushLater();
      onChunk(this.batch());
      const t2 = performance.now();
      walkMs = Math.max(0.5, Math.min(budgetMs, (budgetMs * (t1 - t0)) / Math.max(0.01, t2 - t0)));
      if (done) break;
      await yieldTask();
      if (!this.running) throw new Error('capture stopped');
    }
    if (this.pending.length || this.frameOut.length) this.schedule();
    if (this.canvases.size) setTimeout(() => this.canvasTick(), 0);
    this.tagSome();
  }

  /** Everything that changed since the last call, as one flat batch (or null). */
  collect() {
    if (!this.running) return null;
    this.pause();
    try {
      return this.collectInner();
    } finally {
      this.resume();
    }
  }

  /** One attribute of an ATTRS entry: its name, then 0 (removed) or 1 and the value. */
  attrValue(el, n) {
    this.w(this.name(n));
    const v = el.getAttribute(n);
    if (v === null) this.w(0); else { this.w(1); this.str(v); }
  }

  collectInner() {
    const recs = this.pending;
    this.pending = [];
    // URLs are resolved against the base of the snapshot: a new base needs a new snapshot.
    if (document.baseURI !== this.base) return { resync: true };
    for (const el of this.controls) {
      if (!el.isConnected) this.controls.delete(el);
      else if (this.sentState.get(el) !== controlState(el)) this.values.add(el);
    }
    this.len = 0; this.strs = [];
    const childTargets = new Set(), added = new Set(), attrs = new Map(), texts = new Set();
    for (const list of recs) {
      // Nodes removed in this delivery, with the parent they left. A node taken out and put
      // back into the same parent within one delivery (a reorder) is not sent again: anything
      // done to it while it was out is in this delivery too (transient observers), and the
      // engine checks that the agent has it there (else: a fresh snapshot).
      let left = null;
      for (const r of list) {
        if (r.type === 'childList') {
          // Adding or removing only the engine's own nodes changes nothing the agent has.
          if (anyHidden && !Array.prototype.some.call(r.addedNodes, (x) => !hidden.has(x)) &&
            !Array.prototype.some.call(r.removedNodes, (x) => !hidden.has(x))) continue;
          childTargets.add(r.target);
          if (r.removedNodes.length) {
            left ||= new Map();
            for (const n of r.removedNodes) left.set(n, r.target);
          }
          for (const a of r.addedNodes) {
            if (isHidden(a)) continue;
            if (left === null || left.get(a) !== r.target || !this.has(a)) added.add(a);
          }
        } else if (r.type === 'attributes') {
          if (isHidden(r.target)) continue;
          let name = r.attributeName;
          if (name === 'data-gid') continue;
          if (r.attributeNamespace === XLINK_NS) name = 'xlink:' + name;
          // One changed name (the common case) is kept as a string, more as a Set.
          const s = attrs.get(r.target);
          if (s === undefined) attrs.set(r.target, name);
          else if (typeof s === 'string') { if (s !== name) attrs.set(r.target, new Set([s, name])); }
          else s.add(name);
        } else {
          texts.add(r.target);
        }
      }
    }
    // Frames that loaded a new document and elements that got a shadow root: their child list
    // (the content root first) is sent again.
    for (const f of this.hostsChanged) childTargets.add(f);
    this.hostsChanged.clear();
    const seen = new Set();
    // Which elements' changes may change masking (most attribute changes cannot).
    const affects = new Set();
    const maskNames = new Map();
    const mayAffect = (n) => {
      let v = maskNames.get(n);
      if (v === undefined) maskNames.set(n, (v = this.mayAffectMask(n)));
      return v;
    };
    for (const [el, names] of attrs) {
      if (typeof names === 'string') { if (mayAffect(names)) affects.add(el); continue; }
      for (const n of names) if (mayAffect(n)) { affects.add(el); break; }
    }
    // Elements we masked that no longer match are sent again, whole.
    for (const el of affects) {
      if (this.masked.has(el) && el.isConnected && !this.isMasked(el) && el.parentNode) {
        this.masked.delete(el);
        added.add(el);
        childTargets.add(el.parentNode);
      }
    }
    for (const p of childTargets) {
      if (seen.has(p) || !this.has(p) && p !== document || !alive(p)) continue;
      // A target inside an added subtree is sent whole with that subtree (by its parent's
      // entry); listing it here too would re-send part of it and lose what moved within it.
      if (underAdded(p, added)) continue;
      if (p !== document && this.insideMask(p)) continue;
      const pg = p === document ? 0 : this.gidOf(p);
      this.w(CHILDREN); this.w(pg);
      const countAt = this.len;
      this.w(0);
      const fresh = [];
      let count = 0;
      // A content root comes first (elements only; a masked element's is never sent).
      const root = p.nodeType === 1 ? contentRoot(p) : null;
      if (root !== null) {
        this.w(this.gidOf(root));
        count++;
        if (!this.listened.has(root)) fresh.push(root);
      }
      for (let c = p.firstChild; c; c = c.nextSibling) {
        const t = c.nodeType;
        if (t !== 1 && t !== 3 && t !== 8 && t !== 10 || isHidden(c)) continue;
        const isNew = added.has(c) || !this.has(c);
        this.w(this.gidOf(c));
        count++;
        if (isNew) fresh.push(c);
      }
      this.buf[countAt] = count;
      this.stackInit(fresh, pg);
      this.walkSome(Infinity, seen, true);
      this.w(END);
    }
    const parentMasked = new Map();
    for (const [el, names] of attrs) {
      if (seen.has(el) || !this.has(el) || !alive(el)) continue;
      const parent = el.parentNode;
      if (parent) {
        let pm = parentMasked.get(parent);
        if (pm === undefined) parentMasked.set(parent, (pm = this.insideMask(parent)));
        if (pm) continue;
      }
      const mayChange = affects.has(el);
      const m = mayChange ? this.isMasked(el) : this.masked.has(el);
      let w = 0, h = 0;
      if (m) {
        const r = el.getBoundingClientRect();
        w = px(r.width); h = px(r.height);
        this.masked.add(el);
      }
      this.w(ATTRS); this.w(this.gidOf(el)); this.w(m ? F_MASK : 0); this.w(w); this.w(h);
      if (typeof names === 'string') {
        this.w(1);
        this.attrValue(el, names);
      } else {
        this.w(names.size);
        for (const n of names) this.attrValue(el, n);
      }
      if (mayChange && this.hasUserSel && !m && el.firstElementChild) {
        for (const d of el.querySelectorAll(this.sel)) {
          if (this.masked.has(d) || !this.has(d) || seen.has(d)) continue;
          const r = d.getBoundingClientRect();
          this.w(ATTRS); this.w(this.gidOf(d)); this.w(F_MASK); this.w(px(r.width)); this.w(px(r.height)); this.w(0);
          this.masked.add(d);
        }
      }
    }
    for (const t of texts) {
      if (seen.has(t) || !this.has(t) || !alive(t)) continue;
      this.w(TEXT); this.w(this.gidOf(t));
      this.str(t.data);
    }
    for (const el of this.values) {
      if (seen.has(el) || !this.has(el) || !alive(el) || this.masked.has(el) || this.insideMask(el)) continue;
      const type = el.type;
      if (type === 'checkbox' || type === 'radio') {
        this.w(CHECKED); this.w(this.gidOf(el)); this.w(el.checked ? 1 : 0);
      } else if (el.localName === 'select') {
        this.later.push([SELECT, this.gidOf(el), selectedOf(el)]);
      } else if ('value' in el) {
        this.w(VALUE); this.w(this.gidOf(el));
        this.str(String(el.value));
      } else {
        continue;
      }
      this.sentState.set(el, controlState(el));
    }
    for (const t of this.scrolls) {
      if (t === window) { this.w(SCROLL); this.w(0); this.w(px(scrollX)); this.w(px(scrollY)); }
      else if (this.has(t) && alive(t)) { this.w(SCROLL); this.w(this.gidOf(t)); this.w(px(t.scrollLeft)); this.w(px(t.scrollTop)); }
    }
    if (this.viewportDirty) { this.w(VIEWPORT); this.w(px(innerWidth)); this.w(px(innerHeight)); }
    this.values.clear(); this.scrolls.clear(); this.viewportDirty = false;
    this.collectState();
    this.flushLater();
    // Entries of linked cross-origin frames (already checked), after the page's own.
    for (const b of this.frameOut) {
      for (let i = 0; i < b.ints.length; i++) this.w(b.ints[i]);
      this.strs.push(b.strs);
    }
    this.frameOut = [];
    if (!this.len) return null;
    return this.batch();
  }
}

/** Makes new gids start inside [base, base + span) unless they already do (a linked frame). */
export function gidBlock(base, span) {
  if (nextGid <= base || nextGid >= base + span) nextGid = base + 1;
}
