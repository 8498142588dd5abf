// Snapshot cost of the real engine vs. document.documentElement.outerHTML, same page, same run.
// Usage: node bench/snapshot.mjs [--runs N]   (after `make build`; `make bench` runs it)
//
// For each generated page size the visitor page is loaded from the real server, a big table is
// built, and a session is started. The page's WebSocket is wrapped (before the loader runs) to
// timestamp the server's `welcome` and the engine's `snap` frame: snapshot time = welcome -> snap
// sent (walk + masking + serialization, time slices included). Long tasks are read from a
// PerformanceObserver. outerHTML is timed in the same page right after.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests/e2e/package.json'));
const { chromium } = require('playwright-core');

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const SIZES = [11_000, 110_000];

const freePort = () => new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});

const port = await freePort();
const server = spawn(path.join(root, 'target/release/cobrowse-server'),
  ['--listen', `127.0.0.1:${port}`, '--config', path.join(root, 'server/demo-config.toml'), '--root', root],
  { stdio: ['ignore', 'inherit', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(base + '/demo/index.html')).ok) break; } catch (_) { /* not yet */ }
  await new Promise((r) => setTimeout(r, 100));
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const INSTRUMENT = () => {
  window.__bench = { welcome: 0, snap: 0, snapBytes: 0, longtasks: [] };
  const Orig = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const ws = protocols ? new Orig(url, protocols) : new Orig(url);
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && e.data.includes('"welcome"') && JSON.parse(e.data).t === 'welcome') window.__bench.welcome = performance.now();
    });
    const send = ws.send.bind(ws);
    ws.send = (d) => {
      // The snapshot is the first frame after `welcome` that is either a text `snap` or a binary
      // (gzip-compressed) frame: the engine compresses frames of 2 KB and more.
      const isSnap = typeof d === 'string' ? d.startsWith('{"t":"snap"') : window.__bench.welcome > 0;
      if (isSnap && !window.__bench.snap) {
        window.__bench.snap = performance.now();
        window.__bench.snapBytes = typeof d === 'string' ? d.length : d.byteLength;
      }
      return send(d);
    };
    return ws;
  };
  window.WebSocket.prototype = Orig.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.longtasks.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
};

const BUILD = (nodes) => {
  // One row = tr + 4 td + 4 text nodes = 9 nodes.
  const rows = Math.round(nodes / 9);
  const parts = ['<table id="big"><tbody>'];
  for (let i = 0; i < rows; i++) {
    parts.push(`<tr class="r${i % 7}"><td>${i}</td><td>Item number ${i}</td><td class="p">$${(i * 1.37).toFixed(2)}</td><td>descr ${i % 97}</td></tr>`);
  }
  parts.push('</tbody></table>');
  document.body.innerHTML = parts.join('');
  return document.getElementsByTagName('*').length;
};

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const results = [];
for (const size of SIZES) {
  const snap = [], outer = [], longest = [], bytes = [];
  let elements = 0, htmlBytes = 0;
  for (let r = 0; r < RUNS; r++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.addInitScript(INSTRUMENT);
    await page.goto(base + '/demo/index.html');
    await page.evaluate(() => GLANCE.Cobrowse.Loader.ready);
    elements = await page.evaluate(BUILD, size);
    await page.evaluate(() => new Promise((r) => setTimeout(r, 50)));
    await page.evaluate(() => new Promise((res) => {
      GLANCE.Cobrowse.Visitor.addEventListener('sessioncontinue', res);
      GLANCE.Cobrowse.Visitor.startSession();
    }));
    await page.waitForFunction(() => window.__bench.snap > 0, null, { timeout: 60_000 });
    const b = await page.evaluate(() => {
      const { welcome, snap: s, snapBytes, longtasks } = window.__bench;
      const inWindow = longtasks.filter(([st, d]) => st + d >= welcome && st <= s).map(([, d]) => d);
      return { ms: s - welcome, snapBytes, longest: inWindow.length ? Math.max(...inWindow) : 0 };
    });
    const o = await page.evaluate(() => {
      const t0 = performance.now();
      const h = document.documentElement.outerHTML;
      return { ms: performance.now() - t0, len: h.length };
    });
    snap.push(b.ms); longest.push(b.longest); bytes.push(b.snapBytes); outer.push(o.ms); htmlBytes = o.len;
    await page.evaluate(() => GLANCE.Cobrowse.Visitor.stopSession());
    await ctx.close();
  }
  const row = {
    nodes: size, elements, runs: RUNS,
    snapshot_ms_median: +median(snap).toFixed(1), snapshot_ms_min: +Math.min(...snap).toFixed(1), snapshot_ms_max: +Math.max(...snap).toFixed(1),
    outerhtml_ms_median: +median(outer).toFixed(1),
    ratio: +(median(snap) / median(outer)).toFixed(2),
    longest_task_ms_max: Math.round(Math.max(...longest)),
    snapshot_bytes: median(bytes), html_bytes: htmlBytes,
  };
  results.push(row);
  console.log(`snapshot ${size} nodes (${elements} elements): engine ${row.snapshot_ms_median} ms ` +
    `[${row.snapshot_ms_min}..${row.snapshot_ms_max}] vs outerHTML ${row.outerhtml_ms_median} ms -> ${row.ratio}x; ` +
    `longest task ${row.longest_task_ms_max} ms; wire ${row.snapshot_bytes} B (gzip) vs HTML ${row.html_bytes} B (raw)`);
}
console.log(JSON.stringify({ chromium: browser.version(), results }));
await browser.close();
server.kill();
