// Cross-origin frames that carry their own glance-cobrowse tag (imported by dom.js).
//
// Such a frame cannot be read by the page; instead its own engine walks it and posts its flat
// batches (the format of src/capture.rs) to the page, which checks them and appends them to its
// own batches, so the frame appears in place in the agent's mirror as a frame document.
//
// Handshake, both directions to one exact origin (never '*'):
//   frame -> page   {glance: 'frame-hello', v: 1}           to the origin its ancestors report
//   page  -> frame  {glance: 'frame-join', base, sel}        to the origin of the iframe's src
//   page  -> frame  {glance: 'frame-snap'} / {glance: 'frame-end'}
//   frame -> page   {glance: 'frame-batch', snap, ints, strs, names}
// The page accepts a hello only from the contentWindow of an iframe it sent, from exactly that
// iframe's src origin; the frame accepts a join only from its parent window and origin. Gids of a
// frame live in a block of their own ([base, base + FRAME_SPAN)): the page rejects a batch that
// names any other node, so a frame can never change the page around it.

import {
  DomCapture, gidBlock, NODE, CHILDREN, END, ATTRS, TEXT, VALUE, CHECKED, SCROLL, VIEWPORT,
  SHEET, CSHEET, ADOPT, SELECT, FOCUS, HOVER, MEDIA, IMAGE, TOP, F_MASK, F_VALUE,
} from './dom.js';

export const FRAME_SPAN = 1 << 22;
const FRAME_FIRST = 1 << 30;
const MAX_FRAMES = 255;

let framesLinked = 0;

/** The gid block of the next linked frame, or 0 when every block is taken. */
export function nextFrameBase() {
  if (framesLinked >= MAX_FRAMES) return 0;
  return FRAME_FIRST + FRAME_SPAN * framesLinked++;
}

/** The origin of an iframe's document as the page asked for it ('' when unknown or opaque). */
export function frameOrigin(el) {
  if (el.hasAttribute('sandbox') && !/\ballow-same-origin\b/.test(el.getAttribute('sandbox') || '')) return '';
  try {
    const o = new URL(el.src, document.baseURI).origin;
    return o === 'null' ? '' : o;
  } catch (_) {
    return '';
  }
}

/** The parent's origin as the browser reports it ('' when it does not). */
export function parentOrigin() {
  try {
    if (location.ancestorOrigins && location.ancestorOrigins.length) return location.ancestorOrigins[0];
  } catch (_) { /* not exposed */ }
  try {
    const o = new URL(document.referrer).origin;
    return o === 'null' ? '' : o;
  } catch (_) {
    return '';
  }
}

/**
 * A frame's batch turned into entries of the page's batch: the frame's document (its gid 0)
 * becomes `frame.docGid`, its name ids the page's (`intern`), its sheet ids move into its block;
 * its viewport and window scroll are dropped. A snapshot batch is wrapped in a child list of
 * the iframe element (its document first). Throws when an entry names a node outside the
 * frame's block or is not well formed.
 */
export function remapFrameBatch(frame, msg, intern) {
  const ints = msg.ints, n = ints.length;
  if (!(ints instanceof Uint32Array) || typeof msg.strs !== 'string' || typeof msg.names !== 'string') throw new Error('bad frame batch');
  if (msg.names) for (const name of msg.names.split('\0')) frame.names.push(intern(name));
  const out = [];
  let i = 0;
  const need = (k) => { if (i + k > n) throw new Error('truncated frame batch'); };
  const int = () => { need(1); return ints[i++]; };
  const mapGid = (g) => {
    if (g === 0) return frame.docGid;
    if (g <= frame.base || g >= frame.base + FRAME_SPAN) throw new Error('frame batch names a node outside the frame');
    return g;
  };
  const gid = () => mapGid(int());
  const name = () => {
    const id = int();
    if (id >= frame.names.length) throw new Error('unknown name in frame batch');
    return frame.names[id];
  };
  const sheet = (id) => {
    if (id >= FRAME_SPAN) throw new Error('bad sheet id');
    return frame.base + id;
  };
  const node = () => {
    const flags = int(), g = gid(), p = gid(), kind = int();
    out.push(NODE, flags, g, p, kind);
    if (kind === 1) {
      out.push(name());
      const na = int();
      out.push(na);
      for (let a = 0; a < na; a++) out.push(name(), int());
      if (flags & F_MASK) out.push(int(), int());
      if (flags & F_VALUE) out.push(int());
    } else if (kind === 9 || kind === 11) {
      out.push(name(), int());
    } else if (kind === 3 || kind === 8 || kind === 10) {
      out.push(int());
    } else {
      throw new Error('bad node kind in frame batch');
    }
  };
  const list = () => {
    const c = int();
    need(c);
    out.push(c);
    for (let k = 0; k < c; k++) out.push(int());
  };
  if (msg.snap) {
    // The frame's document under the iframe element, then its nodes (the batch is all NODEs).
    out.push(CHILDREN, frame.hostGid, 1, frame.docGid,
      NODE, 0, frame.docGid, frame.hostGid, 9, intern('#document'), msg.base.length);
  }
  while (i < n) {
    const code = int();
    switch (code) {
      case NODE: node(); break;
      case CHILDREN: {
        out.push(CHILDREN, gid());
        const c = int();
        need(c);
        out.push(c);
        for (let k = 0; k < c; k++) out.push(gid());
        for (;;) {
          const e = int();
          if (e === END) break;
          if (e !== NODE) throw new Error('bad child list in frame batch');
          node();
        }
        out.push(END);
        break;
      }
      case ATTRS: {
        out.push(ATTRS, gid(), int(), int(), int());
        const na = int();
        out.push(na);
        for (let a = 0; a < na; a++) {
          out.push(name());
          const present = int();
          out.push(present);
          if (present) out.push(int());
        }
        break;
      }
      case TEXT: case VALUE: case SHEET: case IMAGE: out.push(code, gid(), int()); break;
      case CHECKED: out.push(code, gid(), int()); break;
      case SCROLL: { const g = int(), x = int(), y = int(); if (g !== 0) out.push(code, mapGid(g), x, y); break; }
      case VIEWPORT: int(); int(); break;
      case CSHEET: out.push(code, sheet(int()), int()); break;
      case ADOPT: {
        out.push(code, gid());
        const c = int();
        need(c);
        out.push(c);
        for (let k = 0; k < c; k++) out.push(sheet(int()));
        break;
      }
      case SELECT: out.push(code, gid()); list(); break;
      case FOCUS: case HOVER: { const g = int(); if (g !== 0) out.push(code, mapGid(g)); break; }
      case MEDIA: out.push(code, gid(), int(), int(), int(), int()); break;
      case TOP: out.push(code, gid(), int(), int()); break;
      default: throw new Error('bad entry in frame batch');
    }
  }
  if (msg.snap) out.push(END);
  return { ints: out, strs: msg.snap ? msg.base + msg.strs : msg.strs };
}

/**
 * In a cross-origin iframe: offers this frame to the page around it (see frames.js). When the
 * page's engine asks it in, this frame is walked and observed by its own capture, its gids in
 * the block the page gave, and every batch goes to the page (exact origin). False when this is
 * not such a frame (top window, same-origin parent, parent origin unknown).
 */
export function frameLink() {
  if (window.parent === window) return false;
  try { if (window.parent.document) return false; } catch (_) { /* cross-origin: go on */ }
  const origin = parentOrigin();
  if (!origin) return false;
  let cap = null, snapping = false;
  const post = (msg) => { try { window.parent.postMessage(msg, origin); } catch (_) { /* gone */ } };
  const send = (b, snap) => {
    if (b && b.ints) post({ glance: 'frame-batch', snap, base: document.baseURI, ints: b.ints, strs: b.strs, names: b.names });
  };
  const snap = async () => {
    if (!cap || snapping) return;
    snapping = true;
    const parts = [];
    try { await cap.snapshot(10, (b) => parts.push(b)); } catch (_) { snapping = false; return; }
    snapping = false;
    let len = 0;
    for (const p of parts) len += p.ints.length;
    const ints = new Uint32Array(len);
    let at = 0;
    for (const p of parts) { ints.set(p.ints, at); at += p.ints.length; }
    send({ ints, strs: parts.map((p) => p.strs).join(''), names: parts.map((p) => p.names).filter(Boolean).join('\0') }, true);
  };
  window.addEventListener('message', (e) => {
    if (e.source !== window.parent || e.origin !== origin) return;
    const d = e.data;
    if (!d || typeof d !== 'object') return;
    if (d.glance === 'frame-join' && Number.isInteger(d.base) && d.base > 0 && typeof d.sel === 'string') {
      if (!cap) {
        gidBlock(d.base, FRAME_SPAN);
        cap = new DomCapture(JSON.stringify([d.sel]), () => {
          const b = cap && !snapping ? cap.collect() : null;
          if (b && b.resync) snap(); else send(b, false);
        });
      }
      snap();
    } else if (d.glance === 'frame-snap') {
      snap();
    } else if (d.glance === 'frame-end' && cap) {
      cap.stop();
      cap = null;
    }
  });
  post({ glance: 'frame-hello', v: 1 });
  return true;
}
