// Ordered sending for the glance-cobrowse engine (imported by src/web/socket.rs).
//
// Frames of at least GZIP_MIN bytes are gzip-compressed with the browser's own CompressionStream
// (no bundled compressor) and sent as binary frames; smaller ones go as text. A snapshot is
// compressed while it is walked (SnapStream), so no task compresses a whole big message.
// Compression is asynchronous, so every frame waits for the ones before it: the server sees them
// in order.

const GZIP_MIN = 2048;
const queues = new WeakMap(); // WebSocket -> { tail: Promise, pending: number }

const gzip = (text) =>
  new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();

/** The send queue of `ws`. */
function queue(ws) {
  let q = queues.get(ws);
  if (!q) queues.set(ws, (q = { tail: Promise.resolve(), pending: 0, bytes: 0 }));
  return q;
}

/** Sends what `body` (a promise) gives, after every earlier frame; `size` counts as backlog. */
function enqueue(ws, q, body, size) {
  q.pending++;
  q.bytes += size;
  const done = () => { q.pending--; q.bytes -= size; };
  q.tail = q.tail.then(() => body).then((b) => {
    done();
    if (ws.readyState === 1) ws.send(b);
  }, done);
}

/** Sends `text` on `ws` after every earlier frame; false when the socket is not open. */
export function sendOrdered(ws, text) {
  if (ws.readyState !== 1) return false;
  const q = queue(ws);
  const big = text.length >= GZIP_MIN && typeof CompressionStream === 'function';
  if (!big && q.pending === 0) {
    ws.send(text);
    return true;
  }
  enqueue(ws, q, big ? gzip(text).catch(() => text) : Promise.resolve(text), text.length);
  return true;
}

/**
 * One message written in parts (a snapshot, slice by slice): once it passes GZIP_MIN bytes every
 * part goes straight into one CompressionStream, so the compression is spread over the slices
 * and no single task compresses the whole message. `finish()` gives the frame: the gzip bytes,
 * or the text when the message stayed small (or the browser has no CompressionStream).
 */
export class SnapStream {
  constructor() {
    this.parts = [];
    this.size = 0;
    this.writer = null;
    this.out = null;
  }

  /** Appends UTF-8 bytes (a copy the stream may keep). */
  push(bytes) {
    this.size += bytes.length;
    if (this.writer) {
      this.writer.write(bytes).catch(() => {});
      return;
    }
    this.parts.push(bytes);
    if (this.size < GZIP_MIN || typeof CompressionStream !== 'function') return;
    const cs = new CompressionStream('gzip');
    this.writer = cs.writable.getWriter();
    this.out = new Response(cs.readable).arrayBuffer();
    this.out.catch(() => {});
    for (const p of this.parts) this.writer.write(p).catch(() => {});
    this.parts = null;
  }

  /** The frame to send: a promise of the gzip bytes, or of the text. */
  finish() {
    if (!this.writer) {
      const all = new Uint8Array(this.size);
      let at = 0;
      for (const p of this.parts) { all.set(p, at); at += p.length; }
      this.parts = [];
      return Promise.resolve(new TextDecoder().decode(all));
    }
    this.writer.close().catch(() => {});
    return this.out;
  }

  /** Gives up the message (a snapshot that was abandoned). */
  abort() {
    if (this.writer) this.writer.abort().catch(() => {});
    this.writer = null;
    this.parts = [];
  }
}

/** Sends the message of `stream` on `ws`, after every earlier frame; false when not open. */
export function sendStream(ws, stream) {
  if (ws.readyState !== 1) return false;
  // The text is gone once compressed: should compression fail, the connection is dropped, and
  // the reconnect sends a fresh snapshot (the engine keeps none to resend).
  const body = stream.finish().catch((e) => {
    try { ws.close(4002, 'snapshot compression failed'); } catch (_) { /* closed */ }
    throw e;
  });
  enqueue(ws, queue(ws), body, stream.size);
  return true;
}

/** Closes `ws` once every queued frame has been sent. */
export function closeOrdered(ws) {
  const q = queues.get(ws);
  const close = () => { try { ws.close(); } catch (_) { /* already closed */ } };
  if (q && q.pending > 0) q.tail.then(close, close); else close();
}

/** Bytes waiting to go out on `ws`: the browser's buffer plus frames still being compressed. */
export function backlog(ws) {
  const q = queues.get(ws);
  return ws.bufferedAmount + (q ? q.bytes : 0);
}
