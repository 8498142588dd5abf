// Remote control in the page (imported by src/web/control.rs through wasm-bindgen): reading an
// action's target for the Rust checks (src/rc.rs decides what is refused), applying clicks,
// typing, field changes, keys and navigation the way a page's own code sees them, the agent's
// outline and pointer overlay, the accessible text of an outlined element, and the visitor's
// pointer feed.
//
// The overlay is a host element with a closed shadow root (its styles stay inside), marked with
// dom.js `hideNode`: the capture never walks it and its mutations never become diffs, so the
// agent's mirror never shows it. Nothing here throws into the page: callers catch.

import { hideNode } from './dom.js';

const NOT_TEXT = /^(checkbox|radio|button|submit|reset|file|image|hidden|color|range)$/;
const SUBMITS = /^(submit|image)$/;
const OUTLINE_MS = 10000;
const PTR_MS = 50;
// Fields the agent typed into and has not yet left (`change` fires only for those).
const edited = new WeakSet();

/** The composed parent: across shadow roots and same-origin frames. */
const up = (n) => n.parentNode && n.parentNode.nodeType === 11 ? n.parentNode.host
  : n.parentNode && n.parentNode.nodeType === 9 ? frameOf(n.parentNode) : n.parentNode;
function frameOf(doc) {
  try { return doc.defaultView.frameElement; } catch (_) { return null; }
}

/** `text`, `select`, `toggle` or `other`. */
function kindOf(el) {
  const ln = el.localName;
  if (ln === 'textarea') return 'text';
  if (ln === 'select') return 'select';
  if (ln !== 'input') return 'other';
  const t = String(el.type).toLowerCase();
  return t === 'checkbox' || t === 'radio' ? 'toggle' : NOT_TEXT.test(t) ? 'other' : 'text';
}

/** True for a submit button (what a click submits). */
const isSubmit = (el) => (el.localName === 'button' && String(el.type).toLowerCase() === 'submit') ||
  (el.localName === 'input' && SUBMITS.test(String(el.type).toLowerCase()));

/**
 * What the Rust checks need about the target of an action `kind` on gid `g`: found, masked,
 * password, disabled, readonly, kind, and the raw URLs a click or Enter would follow (links
 * around it; the form action when it submits).
 */
export function inspect(cap, g, kind) {
  const el = cap.find(g);
  if (el === null || el.nodeType !== 1) return { found: false };
  const ln = el.localName;
  const urls = [];
  for (let n = el, i = 0; n && n.nodeType === 1 && i < 256; n = up(n), i++) {
    if ((n.localName === 'a' || n.localName === 'area') && n.hasAttribute('href')) urls.push(n.getAttribute('href'));
  }
  const form = el.form || null;
  if (form && (kind === 'key' || (kind === 'click' && isSubmit(el)))) {
    if (form.hasAttribute('action')) urls.push(form.getAttribute('action'));
    if (el.hasAttribute('formaction')) urls.push(el.getAttribute('formaction'));
  }
  let disabled = false;
  try { disabled = el.matches(':disabled'); } catch (_) { disabled = !!el.disabled; }
  return {
    found: true,
    masked: cap.isMasked(el) || cap.insideMask(el),
    password: ln === 'input' && (String(el.type).toLowerCase() === 'password' || cap.everPassword.has(el)),
    disabled,
    readonly: !!el.readOnly && (ln === 'input' || ln === 'textarea'),
    kind: kindOf(el),
    urls,
  };
}

function mouse(el, type, cx, cy, buttons) {
  const o = { bubbles: true, cancelable: true, composed: true, view: el.ownerDocument.defaultView, clientX: cx, clientY: cy, button: 0, buttons, detail: 1 };
  const P = type.startsWith('pointer') && typeof PointerEvent === 'function' ? PointerEvent : MouseEvent;
  if (P !== MouseEvent) Object.assign(o, { pointerId: 1, pointerType: 'mouse', isPrimary: true });
  return el.dispatchEvent(new P(type, o));
}

const nativeSetter = (el) => {
  const proto = el.localName === 'textarea' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  return Object.getOwnPropertyDescriptor(proto, 'value').set;
};

const fire = (el, type) => el.dispatchEvent(new Event(type, { bubbles: true, composed: type === 'input' }));
const KEYCODES = { Enter: 13, Tab: 9, Escape: 27 };

/**
 * Applies an action the Rust checks allowed. Returns `{ev, value}`: the `rcevent` type to fire
 * (`click`, `agenttyping`, `inputchange`, or '' for none) and, for typing, the field's whole value;
 * `{err}` when the action cannot be applied after all (`missing`, `invalid`).
 */
export function apply(cap, g, kind, value, key, fx, fy) {
  const el = cap.find(g);
  if (el === null) return { err: 'missing' };
  cap.tagNow(el);
  const focus = () => { try { if (el.getRootNode().activeElement !== el) el.focus({ preventScroll: true }); } catch (_) { /* */ } };
  if (kind === 'click') {
    const r = el.getBoundingClientRect();
    const frac = (f) => (typeof f === 'number' && f >= 0 && f <= 1 ? f : 0.5);
    const cx = r.left + r.width * frac(fx), cy = r.top + r.height * frac(fy);
    mouse(el, 'pointerdown', cx, cy, 1);
    if (mouse(el, 'mousedown', cx, cy, 1)) focus();
    mouse(el, 'pointerup', cx, cy, 0);
    mouse(el, 'mouseup', cx, cy, 0);
    // A dispatched click runs the element's activation behaviour (checkbox, link, submit, label).
    mouse(el, 'click', cx, cy, 0);
    return { ev: 'click' };
  }
  const k = kindOf(el);
  if (kind === 'type') {
    focus();
    if (k === 'select') {
      const before = el.value;
      el.value = value;
      if (el.value !== value) { el.value = before; return { err: 'invalid' }; }
      fire(el, 'input'); fire(el, 'change');
      return { ev: 'agenttyping', value: el.value };
    }
    // The prototype's setter: a framework's value tracker on the element (React) then sees the
    // change when the input event comes, and its state follows.
    nativeSetter(el).call(el, value);
    edited.add(el);
    el.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true, inputType: 'insertText', data: value }));
    return { ev: 'agenttyping', value: String(el.value) };
  }
  if (kind === 'change') {
    const was = edited.has(el);
    edited.delete(el);
    if (was) fire(el, 'change');
    try { el.blur(); } catch (_) { /* */ }
    return { ev: was ? 'inputchange' : '' };
  }
  // kind === 'key'
  focus();
  const o = { key, code: key, keyCode: KEYCODES[key], which: KEYCODES[key], bubbles: true, cancelable: true, composed: true };
  const go = el.dispatchEvent(new KeyboardEvent('keydown', o));
  if (go && key === 'Enter' && el.localName === 'input' && k === 'text' && el.form) {
    if (edited.delete(el)) fire(el, 'change');
    // Implicit submission, as the browser does it (validation and the submit event included).
    try { el.form.requestSubmit(); } catch (_) { /* */ }
  }
  el.dispatchEvent(new KeyboardEvent('keyup', o));
  return { ev: '' };
}

const LABEL_MAX = 200;
const NO_TEXT = /^(script|style|noscript|template|textarea|select|input|option)$/;
const SHOW = 1 | 4; // NodeFilter.SHOW_ELEMENT | SHOW_TEXT

/**
 * The text a screen reader announces for an element the agent outlines, as JSON text (undefined
 * when there is none): its aria-label, alt or title, else its text (whitespace collapsed, at most 200 characters). '' for a masked element,
 * one inside a mask, or a password field; the text of masked descendants and of form fields is
 * left out (what is masked never leaves the capture, not even to the visitor's UI module).
 */
export function label(cap, el) {
  try { const t = labelOf(cap, el); return t ? JSON.stringify(t) : undefined; } catch (_) { return undefined; }
}
function labelOf(cap, el) {
  if (el === null || el.nodeType !== 1 || cap.isMasked(el) || cap.insideMask(el)) return '';
  if (el.localName === 'input' && (String(el.type).toLowerCase() === 'password' || cap.everPassword.has(el))) return '';
  let t = el.getAttribute('aria-label') || el.getAttribute('alt') || el.getAttribute('title') || '';
  if (!t.trim() && !NO_TEXT.test(el.localName)) {
    const skip = (n) => (n.nodeType === 3 ? 1 : NO_TEXT.test(n.localName) || cap.isMasked(n) ? 2 : 3);
    const w = el.ownerDocument.createTreeWalker(el, SHOW, { acceptNode: skip });
    const parts = [];
    for (let n = w.nextNode(), i = 0, len = 0; n && i < 2000 && len < 2 * LABEL_MAX; n = w.nextNode(), i++) {
      parts.push(n.data);
      len += n.data.length;
    }
    t = parts.join(' ');
  }
  t = t.replace(/\s+/g, ' ').trim();
  return t.length > LABEL_MAX ? t.slice(0, LABEL_MAX) : t;
}

/** An agent's URL resolved against the page, or '' when it does not parse. */
export function resolveUrl(u) {
  try { return new URL(u, location.href).href; } catch (_) { return ''; }
}

/**
 * Navigates: `back`, `forward`, `refresh`, or to `href` (`open`: a new window; `link`: an `<a>`
 * clicked, so the loader's cross-domain link handling carries the session). False when a new
 * window was refused.
 */
export function navigate(action, href, open, link) {
  if (action === 'back') history.back();
  else if (action === 'forward') history.forward();
  else if (action === 'refresh') location.reload();
  else if (open) return !!window.open(href);
  else if (link) {
    const a = document.createElement('a');
    a.href = href;
    a.style.display = 'none';
    hideNode(a);
    (document.body || document.documentElement).appendChild(a);
    try { a.click(); } finally { a.remove(); }
  } else location.assign(href);
  return true;
}

const CSS = ':host{all:initial}' +
  '.o{position:fixed;box-sizing:border-box;border:3px solid #f5a623;border-radius:4px;box-shadow:0 0 0 2px #fff8,0 0 12px #f5a623aa;pointer-events:none}' +
  '.p{position:fixed;left:0;top:0;pointer-events:none;font:12px/1.2 sans-serif;color:#fff;white-space:nowrap}' +
  '.p::before{content:"";display:block;width:0;height:0;border-left:7px solid #1565c0;border-top:7px solid #1565c0;border-right:7px solid transparent;border-bottom:7px solid transparent}' +
  '.p span{display:inline-block;margin:2px 0 0 10px;padding:1px 5px;border-radius:3px;background:#1565c0}';

/**
 * The agent's marks on the page: an outline around an element (kept over it through scrolling,
 * resizing and layout changes, removed by `clear` or after 10 s) and one pointer per agent.
 */
export class Overlay {
  constructor() {
    this.host = null;
    this.root = null;
    this.box = null;
    this.target = null;
    this.until = 0;
    this.raf = 0;
    this.ptrs = new Map();
    this.onScroll = () => this.place();
    this.tick = () => { this.raf = 0; this.place(); if (this.target) this.raf = requestAnimationFrame(this.tick); };
  }

  ensure() {
    if (this.host && this.host.isConnected) return this.root;
    const h = document.createElement('glance-overlay');
    hideNode(h);
    h.setAttribute('style', 'all:initial;position:fixed;left:0;top:0;width:0;height:0;overflow:visible;pointer-events:none;z-index:2147483647');
    this.root = h.attachShadow({ mode: 'closed' });
    const st = document.createElement('style');
    st.textContent = CSS;
    this.root.appendChild(st);
    document.documentElement.appendChild(h);
    if (!this.host) {
      addEventListener('scroll', this.onScroll, { capture: true, passive: true });
      addEventListener('resize', this.onScroll, { passive: true });
    }
    this.host = h;
    return this.root;
  }

  /** Outlines `el` (the outline's element is returned for tests). */
  outline(el) {
    const root = this.ensure();
    if (!this.box) { this.box = document.createElement('div'); this.box.className = 'o'; }
    root.appendChild(this.box);
    this.target = el;
    this.until = performance.now() + OUTLINE_MS;
    this.place();
    if (!this.raf) this.raf = requestAnimationFrame(this.tick);
    return this.box;
  }

  clear() {
    this.target = null;
    if (this.box) this.box.remove();
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
  }

  /** Shows agent `num`'s pointer at page coordinates (x, y), or hides it (x null). */
  pointer(num, label, x, y) {
    let p = this.ptrs.get(num);
    if (typeof x !== 'number' || typeof y !== 'number') { if (p) { p.el.remove(); this.ptrs.delete(num); } return; }
    if (!p) {
      const el = document.createElement('div');
      el.className = 'p';
      const s = document.createElement('span');
      el.appendChild(s);
      p = { el, s, x: 0, y: 0 };
      this.ptrs.set(num, p);
    }
    p.s.textContent = label;
    p.x = x; p.y = y;
    this.ensure().appendChild(p.el);
    this.place();
  }

  place() {
    const t = this.target;
    if (t) {
      if (!t.isConnected || performance.now() > this.until) this.clear();
      else {
        const r = t.getBoundingClientRect(), s = this.box.style;
        s.left = r.left - 4 + 'px'; s.top = r.top - 4 + 'px';
        s.width = r.width + 8 + 'px'; s.height = r.height + 8 + 'px';
      }
    }
    for (const p of this.ptrs.values()) p.el.style.transform = 'translate(' + (p.x - scrollX) + 'px,' + (p.y - scrollY) + 'px)';
  }

  /** Removes every mark and listener (session end, remote control stopped). */
  remove() {
    this.clear();
    this.ptrs.clear();
    if (this.host) {
      this.host.remove();
      removeEventListener('scroll', this.onScroll, { capture: true, passive: true });
      removeEventListener('resize', this.onScroll, { passive: true });
    }
    this.host = this.root = this.box = null;
  }
}

/**
 * The visitor's pointer for the agents: `send(line)` with the `vptr` line in page coordinates at
 * most every 50 ms (the last position always arrives), with `x` null when the pointer leaves.
 */
export class PointerFeed {
  constructor(sendLine) {
    const send = (x, y) => sendLine(JSON.stringify({ t: 'vptr', x, y }));
    this.last = 0;
    this.timer = 0;
    this.x = 0; this.y = 0;
    const out = () => { this.timer = 0; this.last = performance.now(); try { send(this.x, this.y); } catch (_) { /* */ } };
    this.onMove = (e) => {
      this.x = Math.round(e.pageX); this.y = Math.round(e.pageY);
      if (this.timer) return;
      const wait = this.last + PTR_MS - performance.now();
      if (wait <= 0) out(); else this.timer = setTimeout(out, wait);
    };
    this.onOut = (e) => {
      if (e.relatedTarget) return;
      if (this.timer) { clearTimeout(this.timer); this.timer = 0; }
      try { send(null, null); } catch (_) { /* */ }
    };
    document.addEventListener('pointermove', this.onMove, { capture: true, passive: true });
    document.addEventListener('pointerout', this.onOut, { capture: true, passive: true });
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = 0;
    document.removeEventListener('pointermove', this.onMove, { capture: true, passive: true });
    document.removeEventListener('pointerout', this.onOut, { capture: true, passive: true });
  }
}
