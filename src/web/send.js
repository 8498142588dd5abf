// Ordered sending for the glance-cobrowse engine (imported by src/web/socket.rs).
//
// Frames of at least GZIP_MIN bytes are gzip-compressed with the browser's own CompressionStream
// (no bundled compressor) and sent as binary frames; smaller ones go as text. Compression is
// asynchronous, so every frame waits for the ones before it: the server sees them in order.

const GZIP_MIN = 2048;
const queues = new WeakMap(); // WebSocket -> { tail: Promise, pending: number }

const gzip = (text) =>
  new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();

/** Sends `text` on `ws` after every earlier frame; false when the socket is not open. */
export function sendOrdered(ws, text) {
  if (ws.readyState !== 1) return false;
  let q = queues.get(ws);
  if (!q) queues.set(ws, (q = { tail: Promise.resolve(), pending: 0, bytes: 0 }));
  const big = text.length >= GZIP_MIN && typeof CompressionStream === 'function';
  if (!big && q.pending === 0) {
    ws.send(text);
    return true;
  }
  q.pending++;
  q.bytes += text.length;
  const body = big ? gzip(text).catch(() => text) : Promise.resolve(text);
  const done = () => { q.pending--; q.bytes -= text.length; };
  q.tail = q.tail.then(() => body).then((b) => {
    done();
    if (ws.readyState === 1) ws.send(b);
  }, done);
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
