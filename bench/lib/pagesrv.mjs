// A tiny page server on loopback: serves the generated pages (and the rewritten demo pages) and
// forwards every other GET to the cobrowse server (demo assets). Pages must come over real HTTP from
// a loopback address: a page fulfilled by request interception counts as a public page for
// Chromium's Local Network Access checks, which then block its WebSocket to 127.0.0.1.
// The page's origin differs from the cobrowse server's, as on a customer site: the loader, glue and
// wasm are fetched cross-origin from /cobrowse/ (served with CORS *), the socket goes to the server.
import http from 'node:http';
import { once } from 'node:events';

export async function startPageServer(upstream) {
  const pages = new Map();
  const srv = http.createServer(async (req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    try {
      if (pages.has(p)) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(pages.get(p));
        return;
      }
      if (req.method !== 'GET') { res.writeHead(405); res.end(); return; }
      const r = await fetch(new URL(req.url, upstream));
      const body = Buffer.from(await r.arrayBuffer());
      const h = { 'content-type': r.headers.get('content-type') || 'application/octet-stream' };
      res.writeHead(r.status, h);
      res.end(body);
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(e && e.message));
    }
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const base = `http://127.0.0.1:${srv.address().port}`;
  return {
    base,
    set(path, html) { pages.set(path, html); return base + path; },
    close: () => new Promise((r) => srv.close(() => r())),
  };
}
