// Browser test of the agent viewer (server/viewer/): a simulated visitor socket streams a
// hostile snapshot and diffs; the viewer in headless Chromium must build the mirror node by node,
// sanitize it, mask, follow every diff op, resync on gaps and show the session states.
//
//   cargo build -p cobrowse-server && node --test server/tests/viewer/
//
// Needs /usr/bin/chromium (scripts/ensure-browser.sh) and playwright-core from tests/e2e
// (npm ci there). Skips itself when either is missing. COBROWSE_SERVER overrides the binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skip, sleep, start, stop, wireRecords } from './setup.mjs';


function toWire(msg) {
  if (msg.t === 'snap') return { ...msg, nodes: wireRecords(msg.nodes, 0) };
  if (msg.t === 'diff') {
    return { ...msg, ops: msg.ops.map((op) => (op[0] === 'c' ? [op[0], op[1], op[2], wireRecords(op[3], op[1])] : op)) };
  }
  return msg;
}

let env;
let BASE;
let browser;

before(async () => {
  if (skip) return;
  env = await start();
  ({ base: BASE, browser } = env);
});

after(async () => { await stop(env); });

/** A page acting as the visitor engine: raw frames over /ws/visitor. */
async function visitor(ctx, hello) {
  const page = await ctx.newPage();
  await page.goto(BASE + '/agent/');
  await page.evaluate((url) => {
    window.msgs = [];
    window.ws = new WebSocket(url);
    window.ws.onmessage = (e) => window.msgs.push(JSON.parse(e.data));
    return new Promise((r) => { window.ws.onopen = r; });
  }, BASE.replace('http', 'ws') + '/ws/visitor');
  const send = (o) => page.evaluate((x) => window.ws.send(JSON.stringify(x)), toWire(o));
  await send({ t: 'hello', v: 1, group: '1234', key: null, sid: null, page: 'p1', url: 'http://shop.test/x',
    title: 'Shop', ua: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36', paused: false, ...hello });
  await page.waitForFunction(() => window.msgs.some((m) => m.t === 'welcome'));
  const welcome = await page.evaluate(() => window.msgs.find((m) => m.t === 'welcome'));
  return { page, send, welcome };
}

/**
 * Signs the context in as the demo agent (docs/PROTOCOL.md "Agents": the glance_agent cookie)
 * when the server has agent authentication; a server without it answers 404 and needs none.
 */
async function signIn(ctx) {
  if (ctx.glanceSignedIn) return;
  ctx.glanceSignedIn = true;
  try {
    await ctx.request.post(BASE + '/api/agent/auth', { data: { username: 'demo', password: 'demo' } });
  } catch (e) { /* no auth route */ }
}

async function viewer(ctx, query) {
  await signIn(ctx);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(BASE + '/agentjoin/AgentView.aspx?' + query);
  return { page, errors };
}

const until = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 5000 });

const HOSTILE = [
  [1, 0, 10, 'html'],
  [2, 0, 1, 'html', ['lang', 'en']],
  [3, 2, 1, 'head', []],
  [4, 3, 1, 'style', []], [5, 4, 3, 'body{margin:8px}'],
  [6, 3, 1, 'meta', ['http-equiv', 'refresh', 'content', '0;url=javascript:alert(1)']],
  [7, 3, 1, 'base', ['href', 'http://evil.test/']],
  [8, 3, 1, 'script', ['type', 'text/javascript', 'src', 'http://evil.test/x.js']],
  [9, 3, 1, 'link', ['rel', 'preload', 'href', 'http://evil.test/p.css']],
  [10, 2, 1, 'body', ['onload', 'alert(1)', 'class', 'b']],
  [11, 10, 1, 'p', []], [12, 11, 3, 'Outer '],
  [13, 11, 1, 'p', []], [14, 13, 3, 'nested'],
  [15, 10, 1, 'img', ['src', 'x.png', 'onerror', 'alert(1)', 'srcset', 'a.png 1x, b.png 2x']],
  [16, 10, 1, 'a', ['href', ' java\tscript:alert(1)']], [17, 16, 3, 'bad link'],
  [18, 10, 1, 'iframe', ['srcdoc', '<script>alert(1)</script>', 'src', 'http://evil.test/']],
  [19, 10, 1, 'input', ['id', 'orderPayment.cardNumber', 'type', 'text'], { m: [200, 20] }],
  [20, 10, 1, 'input', ['type', 'text', 'autofocus', ''], { v: 'typed' }],
  [21, 10, 1, 'select', [], { v: 'b' }], [22, 21, 1, 'option', ['value', 'a']], [23, 22, 3, 'A'],
  [24, 21, 1, 'option', ['value', 'b']], [25, 24, 3, 'B'],
  [26, 10, 1, 'input', ['type', 'checkbox'], { k: true }],
  [27, 10, 1, 'svg', ['width', '20'], { ns: 'svg' }],
  [28, 27, 1, 'a', ['xlink:href', 'javascript:alert(1)'], { ns: 'svg' }],
  [29, 28, 1, 'rect', ['width', '10', 'height', '10'], { ns: 'svg' }],
  [30, 10, 8, 'a comment'],
  [31, 10, 1, 'table', []], [32, 31, 1, 'div', []], [33, 32, 3, 'div in table'],
  [34, 10, 1, 'div', ['style', 'height:3000px']],
  [35, 10, 1, 'div', ['id', 'scroller', 'style', 'height:50px;overflow:auto']],
  [36, 35, 1, 'div', ['style', 'height:500px']],
];

test('viewer builds, sanitizes and updates the mirror', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const v = await visitor(ctx, { key: 'VIEW1' });
  await v.send({ t: 'snap', page: 'p1', seq: 1, url: 'http://shop.test/x', base: 'http://shop.test/',
    title: 'Shop', vw: 1024, vh: 600, sx: 0, sy: 40, nodes: HOSTILE });
  const a = await viewer(ctx, 'SessionKey=VIEW1&wait=1');
  await until(a.page, () => window.glanceViewer && window.glanceViewer.snapshots === 1);
  const r = await a.page.evaluate(() => {
    const d = document.getElementById('glance-mirror').contentDocument;
    const q = (s) => d.querySelector(s);
    const attr = (s, n) => q(s) && q(s).getAttribute(n);
    return {
      gv: { ...window.glanceViewer }, state: document.body.dataset.state,
      sandbox: document.getElementById('glance-mirror').getAttribute('sandbox'),
      compat: d.compatMode, doctype: d.doctype && d.doctype.name,
      onload: attr('body', 'onload'), nested: !!q('p > p'), divInTable: !!q('table > div'),
      equiv: attr('meta', 'http-equiv'), base: attr('base', 'href'), scriptSrc: attr('script', 'src'),
      link: attr('link', 'href'), onerror: attr('img', 'onerror'), img: attr('img', 'src'),
      srcset: attr('img', 'srcset'), aHref: attr('body > a', 'href'), srcdoc: attr('iframe', 'srcdoc'),
      frameSrc: attr('iframe', 'src'), svgHref: attr('svg a', 'xlink:href'),
      masked: q('[data-glance-masked]') && q('[data-glance-masked]').id,
      maskedWidth: q('[data-glance-masked]') && q('[data-glance-masked]').getBoundingClientRect().width,
      value: q('input[autofocus], input[type=text]:not([data-glance-masked])').value,
      autofocus: !!q('[autofocus]'), select: q('select').value, checked: q('input[type=checkbox]').checked,
      svgNs: q('rect').namespaceURI, comment: [...d.body.childNodes].some((n) => n.nodeType === 8),
      scrollY: d.defaultView.scrollY, adopted: d.adoptedStyleSheets.length,
      styles: d.querySelectorAll('style').length, width: document.getElementById('glance-mirror').style.width,
    };
  });
  assert.equal(r.sandbox, 'allow-same-origin');
  assert.deepEqual([r.state, r.gv.page, r.gv.seq, r.gv.key], ['active', 'p1', 1, 'VIEW1']);
  assert.deepEqual([r.compat, r.doctype], ['CSS1Compat', 'html']);
  assert.equal(r.onload, null);
  assert.ok(r.nested && r.divInTable, 'invalid nesting survives');
  assert.deepEqual([r.equiv, r.base, r.scriptSrc, r.link], [null, null, null, null]);
  assert.deepEqual([r.onerror, r.img], [null, 'http://shop.test/x.png']);
  assert.equal(r.srcset, 'http://shop.test/a.png 1x, http://shop.test/b.png 2x');
  assert.deepEqual([r.aHref, r.srcdoc, r.frameSrc, r.svgHref], [null, null, null, null]);
  assert.deepEqual([r.masked, r.maskedWidth], ['orderPayment.cardNumber', 200]);
  assert.deepEqual([r.value, r.autofocus, r.select, r.checked], ['typed', false, 'b', true]);
  assert.equal(r.svgNs, 'http://www.w3.org/2000/svg');
  assert.ok(r.comment);
  assert.deepEqual([r.scrollY, r.adopted, r.styles, r.width], [40, 1, 1, '1024px']);

  await v.send({ t: 'diff', page: 'p1', seq: 2, ops: [
    ['c', 10, [40, 11, 15, 16, 18, 19, 20, 21, 26, 27, 30, 31, 34, 35],
      [[40, 10, 1, 'h1', ['onclick', 'x()']], [41, 40, 3, 'New title']]],
    ['a', 11, 'data-x', 'y'], ['x', 12, 'Changed '], ['v', 20, 'more'], ['k', 26, false],
    ['s', 0, 0, 100], ['s', 35, 0, 30], ['w', 800, 500], ['m', 40, 300, 40], ['a', 19, 'value', 'secret'],
    ['c', 13, [42, 14], [[42, 13, 1, 'b', []], [43, 42, 3, 'bold ']]],
  ] });
  await until(a.page, () => window.glanceViewer.seq === 2);
  const d = await a.page.evaluate(() => {
    const doc = document.getElementById('glance-mirror').contentDocument;
    const q = (s) => doc.querySelector(s);
    return {
      first: doc.body.firstElementChild.localName, h1Masked: q('h1').hasAttribute('data-glance-masked'),
      h1Text: q('h1').textContent, onclick: q('h1').getAttribute('onclick'), data: q('p').getAttribute('data-x'),
      text: q('p').firstChild.data, value: q('input[type=text]:not([data-glance-masked])').value,
      checked: q('input[type=checkbox]').checked, scrollY: doc.defaultView.scrollY,
      inner: q('#scroller').scrollTop, width: document.getElementById('glance-mirror').style.width,
      secret: q('[data-glance-masked][id]').getAttribute('value'), innerP: q('p > p').innerHTML,
    };
  });
  assert.deepEqual(d, {
    first: 'h1', h1Masked: true, h1Text: '', onclick: null, data: 'y', text: 'Changed ', value: 'more',
    checked: false, scrollY: 100, inner: 30, width: '800px', secret: null, innerP: '<b data-gid="42">bold </b>nested',
  });

  await v.send({ t: 'pause', paused: true });
  await until(a.page, () => document.body.dataset.state === 'paused');
  assert.equal(await a.page.evaluate(() => document.getElementById('glance-overlay-text').textContent), 'Session paused');
  await v.send({ t: 'bye' });
  await until(a.page, () => document.body.dataset.state === 'away');
  assert.equal(await a.page.evaluate(() => getComputedStyle(document.getElementById('glance-overlay')).display), 'flex');

  await a.page.click('#glance-end');
  await until(a.page, () => document.body.dataset.state === 'ended');
  await until(v.page, () => window.msgs.some((m) => m.t === 'end' && m.reason === 'agent'));
  assert.deepEqual(a.errors, []);
  await ctx.close();
});

test('viewer resyncs on a gap, follows page changes and reconnects', { skip }, async () => {
  const ctx = await browser.newContext();
  const v = await visitor(ctx, { key: 'VIEW2' });
  const quirks = [[2, 0, 1, 'html', []], [3, 2, 1, 'head', []], [4, 2, 1, 'body', []], [5, 4, 3, 'quirky']];
  await v.send({ t: 'snap', page: 'p1', seq: 1, url: 'http://shop.test/', vw: 2000, vh: 1000, nodes: quirks });
  const a = await viewer(ctx, 'VisitorId=VIEW2');
  let route;
  await a.page.routeWebSocket(/\/ws\/agent/, (ws) => {
    route = ws;
    ws.connectToServer();
  });
  await a.page.reload();
  await until(a.page, () => window.glanceViewer.snapshots === 1);
  const q = await a.page.evaluate(() => ({
    compat: document.getElementById('glance-mirror').contentDocument.compatMode,
    scale: Number(document.getElementById('glance-frame-box').dataset.scale),
    browser: document.getElementById('glance-browser').textContent,
  }));
  assert.equal(q.compat, 'BackCompat');
  assert.ok(q.scale < 1, 'scaled to fit');
  assert.equal(q.browser, 'Chrome 120 on Linux');

  route.send(JSON.stringify({ t: 'diff', page: 'p1', seq: 9, ops: [] }));
  await until(a.page, () => window.glanceViewer.snapshots === 2 && !window.glanceViewer.resyncing);
  route.send(JSON.stringify({ t: 'diff', page: 'p1', seq: 2, ops: [['x', 999, 'no such node']] }));
  await until(a.page, () => window.glanceViewer.snapshots === 3);

  await v.send({ t: 'snap', page: 'p2', seq: 1, url: 'http://shop.test/2', vw: 800, vh: 600,
    nodes: [[1, 0, 10, 'html'], [2, 0, 1, 'html', []], [3, 2, 1, 'head', []], [4, 2, 1, 'body', []], [5, 4, 3, 'std']] });
  await until(a.page, () => window.glanceViewer.page === 'p2');
  assert.equal(await a.page.evaluate(() => document.getElementById('glance-mirror').contentDocument.compatMode), 'CSS1Compat');

  await route.close({ code: 1011, reason: 'test drop' });
  await until(a.page, () => window.glanceViewer.snapshots === 5 && document.body.dataset.state === 'active');

  await v.send({ t: 'end' });
  await until(a.page, () => document.body.dataset.state === 'ended');
  assert.deepEqual(a.errors, []);
  await ctx.close();
});

test('viewer states without a session: notfound, waiting, left', { skip }, async () => {
  const ctx = await browser.newContext();
  const nf = await viewer(ctx, 'SessionKey=NOPE1');
  await until(nf.page, () => document.body.dataset.state === 'notfound');
  const w = await viewer(ctx, 'SessionKey=LATER1&wait=1');
  await until(w.page, () => document.body.dataset.state === 'waiting');
  await sleep(300);
  assert.equal(await w.page.evaluate(() => document.body.dataset.state), 'waiting');
  const v = await visitor(ctx, { key: 'LATER1' });
  await until(w.page, () => document.body.dataset.state === 'active');
  await until(v.page, () => window.msgs.some((m) => m.t === 'agents' && m.count === 1));
  await w.page.click('#glance-leave');
  assert.equal(await w.page.evaluate(() => document.body.dataset.state), 'left');
  await until(v.page, () => window.msgs.some((m) => m.t === 'agents' && m.count === 0));

  await signIn(ctx);
  const land = await ctx.newPage();
  await land.goto(BASE + '/agent/');
  await land.fill('#glance-join-key', 'LATER1');
  await land.click('button[type=submit]');
  await until(land, () => document.body.dataset.state === 'active');
  await ctx.close();
});
