// DOM capture for the glance-cobrowse engine (imported by src/web/dom.rs through wasm-bindgen).
//
// This file only reads the page and flattens it; every decision about what may leave the page
// (masking, attribute filtering, script bodies) is made in Rust (src/capture.rs), whose module
// docs define the flat format produced here. Strings cross to wasm as one joined string with
// their UTF-16 lengths in the number stream; tag and attribute names cross once per page.
//
// Our own `data-gid` writes happen while the MutationObserver is disconnected (synchronously,
// so no page mutation can be missed: pending records are taken first) and never become diffs.

const NODE = 1, CHILDREN = 2, END = 3, ATTRS = 4, TEXT = 5, VALUE = 6, CHECKED = 7, SCROLL = 8, VIEWPORT = 9;
const F_MASK = 1, F_VALUE = 2, F_CHECKED = 4, F_HAS_CHECKED = 8, F_SVG = 16, F_MATH = 32;
const SVG_NS = 'http://www.w3.org/2000/svg';
const MATH_NS = 'http://www.w3.org/1998/Math/MathML';
const XLINK_NS = 'http://www.w3.org/1999/xlink';
const OBSERVE = { childList: true, subtree: true, attributes: true, characterData: true };
const PASSWORD = 'input[type=password i]';
const FLUSH_MS = 30;

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

/** Page facts for a snapshot header, as JSON. */
export function pageMeta() {
  return JSON.stringify({
    url: location.href, base: document.baseURI, title: document.title,
    vw: innerWidth, vh: innerHeight, sx: Math.max(0, scrollX), sy: Math.max(0, scrollY),
  });
}

const px = (n) => (n > 0 ? Math.min(Math.round(n), 0x7fffffff) : 0);

export class DomCapture {
  constructor(selectorsJson, notify) {
    const user = JSON.parse(selectorsJson);
    this.sel = user.concat([PASSWORD]).join(',');
    this.hasUserSel = user.length > 0;
    this.notify = notify;
    this.gids = new WeakMap();
    this.next = 1;
    this.names = new Map();
    this.newNames = [];
    this.ints = [];
    this.strs = [];
    this.pending = [];
    this.values = new Set();
    this.scrolls = new Set();
    this.viewportDirty = false;
    this.masked = new WeakSet();
    this.maskSet = null;
    this.maskDirty = true;
    this.timer = 0;
    this.running = false;
    this.sn = []; this.sp = []; this.se = [];
    this.mo = new MutationObserver((recs) => {
      for (const r of recs) this.pending.push(r);
      this.maskDirty = true;
      this.schedule();
    });
    this.fire = () => {
      this.timer = 0;
      try { this.notify(); } catch (e) { console.error('glance: capture flush failed', e); }
    };
    this.onInput = (e) => {
      const t = e.target;
      if (!t || t.nodeType !== 1) return;
      this.values.add(t);
      if (t.type === 'radio' && t.name) {
        const scope = t.form || document;
        for (const r of scope.querySelectorAll('input[type=radio]')) if (r.name === t.name) this.values.add(r);
      }
      this.schedule();
    };
    this.onScroll = (e) => {
      const t = e.target;
      this.scrolls.add(t === document || t === document.documentElement || t === document.scrollingElement ? window : t);
      this.schedule();
    };
    this.onResize = () => { this.viewportDirty = true; this.scrolls.add(window); this.schedule(); };
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.mo.observe(document, OBSERVE);
    const opts = { capture: true, passive: true };
    document.addEventListener('input', this.onInput, opts);
    document.addEventListener('change', this.onInput, opts);
    document.addEventListener('scroll', this.onScroll, opts);
    window.addEventListener('resize', this.onResize, { passive: true });
  }

  stop() {
    this.running = false;
    this.mo.disconnect();
    const opts = { capture: true, passive: true };
    document.removeEventListener('input', this.onInput, opts);
    document.removeEventListener('change', this.onInput, opts);
    document.removeEventListener('scroll', this.onScroll, opts);
    window.removeEventListener('resize', this.onResize, { passive: true });
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    this.pending = [];
  }

  schedule() {
    if (!this.timer && this.running) this.timer = setTimeout(this.fire, FLUSH_MS);
  }

  /** Disconnects the observer, keeping every record it still holds. */
  pause() {
    for (const r of this.mo.takeRecords()) this.pending.push(r);
    this.mo.disconnect();
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

  str(s) {
    this.ints.push(s.length);
    this.strs.push(s);
  }

  gidOf(n) {
    let g = this.gids.get(n);
    if (g === undefined) {
      g = this.next++;
      this.gids.set(n, g);
    }
    return g;
  }

  /** Tags an element with its gid (observer must be disconnected). */
  tag(el, g) {
    const s = String(g);
    if (el.getAttribute('data-gid') !== s) el.setAttribute('data-gid', s);
  }

  isMasked(el) {
    if (this.maskSet) return this.maskSet.has(el);
    try { return el.matches(this.sel); } catch (_) { return true; }
  }

  insideMask(el) {
    try { return el.closest(this.sel) !== null; } catch (_) { return true; }
  }

  /** Emits one node; returns whether its children are emitted (false: tag them only). */
  emitNode(n, p) {
    const t = n.nodeType;
    const ints = this.ints;
    if (t === 1) {
      const g = this.gidOf(n);
      this.tag(n, g);
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
        else flags |= F_VALUE;
      }
      const attrs = n.attributes;
      const na = attrs.length;
      ints.push(NODE, flags, g, p, 1, this.name(ln), na);
      for (let i = 0; i < na; i++) {
        const a = attrs[i];
        ints.push(this.name(a.name));
        this.str(a.value);
      }
      if (masked) {
        const r = n.getBoundingClientRect();
        ints.push(px(r.width), px(r.height));
      }
      if (flags & F_VALUE) this.str(String(n.value));
      return !masked && ln !== 'script';
    }
    if (t === 3 || t === 8) {
      ints.push(NODE, 0, this.gidOf(n), p, t);
      this.str(n.data);
    } else if (t === 10) {
      ints.push(NODE, 0, this.gidOf(n), p, 10);
      this.str(n.name);
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
  walkSome(deadline, seen) {
    const sn = this.sn, sp = this.sp, se = this.se;
    let count = 0;
    while (sn.length) {
      if ((++count & 511) === 0 && performance.now() > deadline) return false;
      const n = sn.pop(), p = sp.pop(), emit = se.pop();
      if (seen.has(n)) continue;
      seen.add(n);
      let kids;
      if (emit) {
        kids = this.emitNode(n, p);
      } else {
        if (n.nodeType === 1) this.tag(n, this.gidOf(n)); else this.gidOf(n);
        kids = false;
      }
      const g = this.gids.get(n);
      for (let c = n.lastChild; c; c = c.previousSibling) {
        sn.push(c); sp.push(g); se.push(kids);
      }
    }
    return true;
  }

  batch() {
    const b = { ints: Uint32Array.from(this.ints), strs: this.strs.join(''), names: this.newNames.join('\0') };
    this.ints = []; this.strs = []; this.newNames = [];
    return b;
  }

  /** A full snapshot, walked in time slices of `budgetMs` so no task blocks the page. */
  async snapshot(budgetMs) {
    this.start();
    this.pause();
    this.pending = [];
    this.values.clear(); this.scrolls.clear(); this.viewportDirty = false;
    this.ints = []; this.strs = [];
    const seen = new Set();
    this.maskDirty = true;
    this.stackInit(Array.from(document.childNodes), 0);
    for (;;) {
      this.pause();
      let done;
      try {
        if (this.maskDirty) {
          this.maskSet = new Set(document.querySelectorAll(this.sel));
          this.maskDirty = false;
        }
        done = this.walkSome(performance.now() + budgetMs, seen);
      } finally {
        this.maskSet = null;
        this.resume();
      }
      if (done) break;
      await yieldTask();
      if (!this.running) throw new Error('capture stopped');
    }
    if (this.pending.length) this.schedule();
    return this.batch();
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

  collectInner() {
    const recs = this.pending;
    this.pending = [];
    this.ints = []; this.strs = [];
    const ints = this.ints;
    const childTargets = new Set(), added = new Set(), attrs = new Map(), texts = new Set();
    for (const r of recs) {
      if (r.type === 'childList') {
        childTargets.add(r.target);
        for (const a of r.addedNodes) added.add(a);
      } else if (r.type === 'attributes') {
        let name = r.attributeName;
        if (name === 'data-gid') continue;
        if (r.attributeNamespace === XLINK_NS) name = 'xlink:' + name;
        let s = attrs.get(r.target);
        if (!s) attrs.set(r.target, (s = new Set()));
        s.add(name);
      } else {
        texts.add(r.target);
      }
    }
    const seen = new Set();
    // Elements we masked that no longer match are sent again, whole.
    for (const el of attrs.keys()) {
      if (this.masked.has(el) && el.isConnected && !this.isMasked(el) && el.parentNode) {
        this.masked.delete(el);
        added.add(el);
        childTargets.add(el.parentNode);
      }
    }
    for (const p of childTargets) {
      if (seen.has(p) || !p.isConnected || !this.gids.has(p) && p !== document) continue;
      if (p.nodeType === 1 && this.insideMask(p)) continue;
      const pg = p === document ? 0 : this.gids.get(p);
      ints.push(CHILDREN, pg, 0);
      const countAt = ints.length - 1;
      const fresh = [];
      let count = 0;
      for (let c = p.firstChild; c; c = c.nextSibling) {
        const t = c.nodeType;
        if (t !== 1 && t !== 3 && t !== 8 && t !== 10) continue;
        const isNew = added.has(c) || !this.gids.has(c);
        ints.push(this.gidOf(c));
        count++;
        if (isNew) fresh.push(c);
      }
      ints[countAt] = count;
      this.stackInit(fresh, pg);
      this.walkSome(Infinity, seen);
      ints.push(END);
    }
    for (const [el, names] of attrs) {
      if (seen.has(el) || !el.isConnected || !this.gids.has(el)) continue;
      const parent = el.parentElement;
      if (parent && this.insideMask(parent)) continue;
      const m = this.isMasked(el);
      let w = 0, h = 0;
      if (m) {
        const r = el.getBoundingClientRect();
        w = px(r.width); h = px(r.height);
        this.masked.add(el);
      }
      ints.push(ATTRS, this.gids.get(el), m ? F_MASK : 0, w, h, names.size);
      for (const n of names) {
        ints.push(this.name(n));
        const v = el.getAttribute(n);
        if (v === null) ints.push(0); else { ints.push(1); this.str(v); }
      }
      if (this.hasUserSel && !m && el.firstElementChild) {
        for (const d of el.querySelectorAll(this.sel)) {
          if (this.masked.has(d) || !this.gids.has(d) || seen.has(d)) continue;
          const r = d.getBoundingClientRect();
          ints.push(ATTRS, this.gids.get(d), F_MASK, px(r.width), px(r.height), 0);
          this.masked.add(d);
        }
      }
    }
    for (const t of texts) {
      if (seen.has(t) || !t.isConnected || !this.gids.has(t)) continue;
      ints.push(TEXT, this.gids.get(t));
      this.str(t.data);
    }
    for (const el of this.values) {
      if (seen.has(el) || !el.isConnected || !this.gids.has(el) || this.insideMask(el)) continue;
      const type = el.type;
      if (type === 'checkbox' || type === 'radio') {
        ints.push(CHECKED, this.gids.get(el), el.checked ? 1 : 0);
      } else if ('value' in el) {
        ints.push(VALUE, this.gids.get(el));
        this.str(String(el.value));
      }
    }
    for (const t of this.scrolls) {
      if (t === window) ints.push(SCROLL, 0, px(scrollX), px(scrollY));
      else if (t.isConnected && this.gids.has(t)) ints.push(SCROLL, this.gids.get(t), px(t.scrollLeft), px(t.scrollTop));
    }
    if (this.viewportDirty) ints.push(VIEWPORT, px(innerWidth), px(innerHeight));
    this.values.clear(); this.scrolls.clear(); this.viewportDirty = false;
    if (!ints.length) return null;
    return this.batch();
  }
}
