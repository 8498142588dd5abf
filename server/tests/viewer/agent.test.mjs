// Browser tests of the agent side of the viewer (server/viewer/): authentication, layout and
// pointers, remote control, gestures, navigation and the embedding API (GLANCE.Cobrowse.Agent).
// The agent socket is a fake (Playwright routeWebSocket), so these tests pin the viewer to the
// contract in docs/PROTOCOL.md ("Agents: ...") whatever the server build does; the real server
// only serves the viewer files. /api/agent/auth is faked with page.route.
//
//   node --test server/tests/viewer/agent.test.mjs
//
// Needs /usr/bin/chromium and playwright-core from tests/e2e (npm ci there); skips otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skip, sleep, start, stop, wireRecords } from './setup.mjs';

let env;
let BASE;
let browser;

before(async () => {
  if (skip) return;
  env = await start();
  ({ base: BASE, browser } = env);
});

after(async () => { await stop(env); });


const AGNES = { username: 'agnes', name: 'Agnes Agent', num: 1 };
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0';
const abs = (l, t, w, h) => `position:absolute;left:${l}px;top:${t}px;width:${w}px;height:${h}px;margin:0`;
const PAGE = [
  [1, 0, 10, 'html'],
  [2, 0, 1, 'html', []],
  [3, 2, 1, 'head', []],
  [4, 2, 1, 'body', ['style', 'margin:0']],
  [5, 4, 1, 'div', ['id', 'box', 'style', abs(100, 200, 200, 100)]],
  [6, 4, 1, 'button', ['id', 'btn', 'style', abs(400, 100, 100, 40)]], [7, 6, 3, 'Buy'],
  [8, 4, 1, 'input', ['id', 'name', 'type', 'text', 'style', abs(400, 160, 200, 30)], { v: '' }],
  [9, 4, 1, 'select', ['id', 'sel', 'style', abs(400, 210, 100, 30)], { v: 'a' }],
  [10, 9, 1, 'option', ['value', 'a']], [11, 10, 3, 'A'],
  [12, 9, 1, 'option', ['value', 'b']], [13, 12, 3, 'B'],
  [14, 4, 1, 'input', ['id', 'cb', 'type', 'checkbox', 'style', abs(400, 260, 30, 30)], { k: false }],
  [15, 4, 1, 'input', ['id', 'card', 'type', 'text', 'style', abs(400, 310, 150, 30)], { m: [150, 30] }],
  [16, 4, 1, 'a', ['id', 'lnk', 'href', 'http://shop.test/next', 'style', abs(400, 360, 100, 30)]], [17, 16, 3, 'Next'],
  [18, 4, 1, 'div', ['style', 'height:3000px']],
];
const GID = { box: 5, btn: 6, name: 8, sel: 9, cb: 14, card: 15, lnk: 16 };

/** A fake /ws/agent: records the viewer's frames and connection URLs. */
async function fakeAgentSocket(target, onConnect) {
  const f = { frames: [], urls: [], ws: null, seq: 1 };
  await target.routeWebSocket(/\/ws\/agent/, (ws) => {
    f.ws = ws;
    f.urls.push(ws.url());
    ws.onMessage((m) => f.frames.push(JSON.parse(String(m))));
    if (onConnect) onConnect(ws, f);
  });
  f.send = (o) => f.ws.send(JSON.stringify(o));
  f.sessionStart = (ws, extra) => {
    ws.send(JSON.stringify({ t: 'session', key: 'K1', url: 'http://shop.test/x', title: 'Shop', ua: UA,
      state: 'active', you: AGNES, rc: { enabled: false, state: 'off' }, a11y: false, ...extra }));
    ws.send(JSON.stringify({ t: 'snap', page: 'p1', seq: 1, url: 'http://shop.test/x', base: 'http://shop.test/',
      vw: 1600, vh: 900, sx: 0, sy: 50, nodes: wireRecords(PAGE, 0) }));
  };
  f.diff = (ops) => { f.seq += 1; f.send({ t: 'diff', page: 'p1', seq: f.seq, ops }); };
  f.waitFor = async (pred, what, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = f.frames.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error('no frame: ' + what + '; got ' + JSON.stringify(f.frames.slice(-10)));
      await sleep(20);
    }
  };
  f.of = (t) => f.frames.filter((x) => x.t === t);
  return f;
}

const until = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 5000 });

async function openViewer(ctx, query, onConnect) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const f = await fakeAgentSocket(page, onConnect || ((ws, fk) => fk.sessionStart(ws)));
  await page.goto(BASE + '/agentjoin/AgentView.aspx?' + query);
  return { page, f, errors };
}

/** Viewer-page coordinates of the centre of mirror element `sel` (through the scale). */
async function at(page, sel) {
  return page.evaluate((s) => {
    const fr = document.getElementById('glance-mirror');
    const el = fr.contentDocument.querySelector(s);
    const r = el.getBoundingClientRect();
    const f = fr.getBoundingClientRect();
    const k = Number(document.getElementById('glance-frame-box').dataset.scale);
    return { x: f.left + (r.left + r.width / 2) * k, y: f.top + (r.top + r.height / 2) * k };
  }, sel);
}
async function clickMirror(page, sel) {
  const p = await at(page, sel);
  await page.mouse.click(p.x, p.y);
}
const notice = (page) => page.evaluate(() => document.getElementById('glance-notice').textContent);
const mirrorValue = (page, sel, prop = 'value') => page.evaluate(([s, p]) =>
  document.getElementById('glance-mirror').contentDocument.querySelector(s)[p], [sel, prop]);

test('layout: visitor viewport scaled to fit, pointers, header facts and agents', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const { page, f, errors } = await openViewer(ctx, 'SessionKey=K1');
  await until(page, () => window.glanceViewer.snapshots === 1);
  const l = await page.evaluate(() => {
    const box = document.getElementById('glance-frame-box');
    const fr = document.getElementById('glance-mirror');
    return { scale: Number(box.dataset.scale), w: box.getBoundingClientRect().width, h: box.getBoundingClientRect().height,
      fw: fr.style.width, fh: fr.style.height, sandbox: fr.getAttribute('sandbox'),
      browser: document.getElementById('glance-browser').textContent,
      agents: document.getElementById('glance-agents').textContent,
      key: document.getElementById('glance-key').textContent };
  });
  assert.equal(l.sandbox, 'allow-same-origin');
  assert.deepEqual([l.fw, l.fh], ['1600px', '900px']);
  assert.ok(l.scale > 0.3 && l.scale < 0.7, 'scaled down: ' + l.scale);
  assert.ok(Math.abs(l.w - 1600 * l.scale) < 1 && Math.abs(l.h - 900 * l.scale) < 1, 'aspect kept');
  assert.deepEqual([l.browser, l.agents, l.key], ['Firefox 120 on Windows', 'Agnes Agent (you)', 'K1']);

  // A bigger window: a bigger scale (recomputed on resize); a viewport op: new size.
  await page.setViewportSize({ width: 1400, height: 900 });
  await until(page, (s) => Number(document.getElementById('glance-frame-box').dataset.scale) > s + 0.1, l.scale);
  f.diff([['w', 800, 600]]);
  await until(page, () => document.getElementById('glance-mirror').style.width === '800px');
  const s2 = await page.evaluate(() => Number(document.getElementById('glance-frame-box').dataset.scale));
  assert.equal(s2, 1, 'never scaled up');
  f.diff([['w', 1600, 900]]);
  await until(page, () => document.getElementById('glance-mirror').style.width === '1600px');
  const scale = await page.evaluate(() => Number(document.getElementById('glance-frame-box').dataset.scale));

  // The agent's pointer: page coordinates (the mirror is scrolled by 50), throttled, null on leave.
  const p = await at(page, '#box');
  await page.mouse.move(p.x, p.y);
  const ptr = await f.waitFor((m) => m.t === 'ptr' && m.x !== null, 'ptr');
  assert.ok(Math.abs(ptr.x - 200) <= 2 && Math.abs(ptr.y - 250) <= 2, 'page coords: ' + JSON.stringify(ptr));
  const before = f.of('ptr').length;
  for (let i = 0; i < 20; i++) await page.mouse.move(p.x + i, p.y, { steps: 1 });
  await sleep(100);
  const sent = f.of('ptr').length - before;
  assert.ok(sent >= 1 && sent < 15, 'throttled: ' + sent);
  await page.mouse.move(5, 5);
  await f.waitFor((m) => m.t === 'ptr' && m.x === null, 'ptr null');

  // The visitor's pointer: a dot at (page - scroll) * scale; null hides it.
  f.send({ t: 'vptr', x: 300, y: 450 });
  await until(page, () => !document.getElementById('glance-vptr').hidden);
  const dot = await page.evaluate(() => {
    const d = document.getElementById('glance-vptr');
    return { left: parseFloat(d.style.left), top: parseFloat(d.style.top) };
  });
  assert.ok(Math.abs(dot.left - 300 * scale) < 1 && Math.abs(dot.top - 400 * scale) < 1, JSON.stringify(dot));
  f.send({ t: 'vptr', x: null, y: null });
  await until(page, () => document.getElementById('glance-vptr').hidden);

  // Agents: an agents frame replaces the list from session.you.
  f.send({ t: 'agents', count: 2, agentlist: [AGNES, { username: 'bob', name: 'Bob Builder', num: 2 }] });
  await until(page, () => document.getElementById('glance-agents').textContent === 'Agnes Agent (you), Bob Builder');

  // States: paused / away / ended are shown.
  f.send({ t: 'session', state: 'paused' });
  await until(page, () => document.body.dataset.state === 'paused');
  f.send({ t: 'session', state: 'active' });
  await until(page, () => document.body.dataset.state === 'active');
  f.send({ t: 'ended', reason: 'visitor' });
  await until(page, () => document.body.dataset.state === 'ended');
  assert.equal(await page.evaluate(() => document.getElementById('glance-message-title').textContent), 'Session ended');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('remote control: button states, clicks and typing as act frames, refusals', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const { page, f, errors } = await openViewer(ctx, 'SessionKey=K1');
  await until(page, () => window.glanceViewer.snapshots === 1);
  const rcText = () => page.evaluate(() => [document.getElementById('glance-rc').textContent,
    document.getElementById('glance-rc-status').textContent]);
  assert.deepEqual(await rcText(), ['Request control', '']);

  // Without control: nothing is sent, fields are read-only, links do not navigate.
  await clickMirror(page, '#btn');
  await clickMirror(page, '#name');
  await page.keyboard.type('zz');
  await clickMirror(page, '#lnk');
  await clickMirror(page, '#cb');
  await sleep(200);
  assert.equal(f.of('act').length, 0);
  assert.equal(await mirrorValue(page, '#name'), '');
  assert.equal(await mirrorValue(page, '#cb', 'checked'), false);
  assert.ok(await page.evaluate(() => !!document.getElementById('glance-mirror').contentDocument.getElementById('btn')), 'no navigation');

  await page.click('#glance-rc');
  await f.waitFor((m) => m.t === 'rc' && m.on === true, 'rc on');
  assert.deepEqual(await rcText(), ['Cancel request', 'Waiting for the visitor\u2026']);
  f.send({ t: 'rc', enabled: false, state: 'requested', suspended: false });
  await sleep(50);
  assert.deepEqual(await rcText(), ['Cancel request', 'Waiting for the visitor\u2026']);
  f.send({ t: 'rc', enabled: false, state: 'declined', suspended: false });
  await until(page, () => document.getElementById('glance-rc').textContent === 'Request control');
  assert.equal(await notice(page), 'The visitor declined remote control.');
  assert.equal((await rcText())[1], 'The visitor declined');

  await page.click('#glance-rc');
  f.send({ t: 'rc', enabled: true, state: 'accepted', suspended: false });
  await until(page, () => document.getElementById('glance-rc').textContent === 'Stop control');

  // A click: the element's gid and the point as fractions of its box.
  await clickMirror(page, '#btn');
  const click = await f.waitFor((m) => m.t === 'act' && m.type === 'click', 'act click');
  assert.equal(click.gid, GID.btn);
  assert.ok(Math.abs(click.x - 0.5) < 0.1 && Math.abs(click.y - 0.5) < 0.1, JSON.stringify(click));
  assert.equal(typeof click.id, 'number');

  // Typing: the whole value per keystroke; a late echo does not undo the agent's text.
  await clickMirror(page, '#name');
  await f.waitFor((m) => m.t === 'act' && m.type === 'click' && m.gid === GID.name, 'click name');
  await page.keyboard.type('ab');
  await f.waitFor((m) => m.t === 'act' && m.type === 'type' && m.value === 'ab', 'type ab');
  assert.deepEqual(f.of('act').filter((m) => m.type === 'type').map((m) => [m.gid, m.value]), [[GID.name, 'a'], [GID.name, 'ab']]);
  f.diff([['v', GID.name, 'a']]);
  await until(page, (s) => window.glanceViewer.seq === s, f.seq);
  assert.equal(await mirrorValue(page, '#name'), 'ab', 'the stale echo waits');
  await page.keyboard.press('Enter');
  const key = await f.waitFor((m) => m.t === 'act' && m.type === 'key', 'key Enter');
  assert.deepEqual([key.gid, key.key], [GID.name, 'Enter']);
  const change = f.of('act').find((m) => m.type === 'change');
  assert.deepEqual([change.gid, change.value], [GID.name, 'ab']);
  assert.ok(change.id < key.id, 'change before the key');
  // Once the agent pauses, the visitor's value wins again.
  await sleep(1700);
  f.diff([['v', GID.name, 'abc']]);
  await until(page, () => document.getElementById('glance-mirror').contentDocument.getElementById('name').value === 'abc');

  // A select: `type` with the option value. A checkbox: a click, not toggled locally.
  await page.evaluate(() => {
    const s = document.getElementById('glance-mirror').contentDocument.getElementById('sel');
    s.value = 'b';
    s.dispatchEvent(new Event('change', { bubbles: true }));
  });
  const sel = await f.waitFor((m) => m.t === 'act' && m.gid === GID.sel, 'select');
  assert.deepEqual([sel.type, sel.value], ['type', 'b']);
  await clickMirror(page, '#cb');
  await f.waitFor((m) => m.t === 'act' && m.type === 'click' && m.gid === GID.cb, 'checkbox click');
  assert.equal(await mirrorValue(page, '#cb', 'checked'), false, 'the visitor decides');

  // A link: sent as a click, never followed here.
  await clickMirror(page, '#lnk');
  await f.waitFor((m) => m.t === 'act' && m.gid === GID.lnk, 'link click');
  await sleep(200);
  assert.ok(await page.evaluate(() => !!document.getElementById('glance-mirror').contentDocument.getElementById('btn')));

  // A masked field: refused here, nothing sent.
  const n = f.of('act').length;
  await clickMirror(page, '#card');
  await page.keyboard.type('4111');
  await sleep(200);
  assert.equal(f.of('act').length, n, 'nothing sent for a masked field');
  assert.equal(await notice(page), 'This field is masked: the agent can\u2019t type in it.');

  // The visitor refuses: a polite notice naming the reason.
  f.send({ t: 'actres', id: click.id, num: 1, ok: false, reason: 'missing' });
  await until(page, () => document.getElementById('glance-notice').textContent.includes('no longer on the visitor'));
  f.send({ t: 'actres', id: 99, num: 1, ok: false, reason: 'javascript' });
  await until(page, () => document.getElementById('glance-notice').textContent.includes('runs a script'));
  const refused = await page.evaluate(() => window.glanceViewer.events.filter((e) => e.event === 'rcrefused').map((e) => e.data));
  assert.deepEqual(refused.slice(-2), [{ id: click.id, reason: 'missing' }, { id: 99, reason: 'javascript' }]);

  // Keyboard: F6 leaves the mirror for the toolbar (Tab goes to the visitor under control).
  await clickMirror(page, '#name');
  await page.keyboard.press('F6');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'glance-rc');

  // Stop control.
  await page.keyboard.press('Enter');
  await f.waitFor((m) => m.t === 'rc' && m.on === false, 'rc off');
  f.send({ t: 'rc', enabled: false, state: 'off', suspended: false });
  await until(page, () => document.getElementById('glance-rc').textContent === 'Request control');
  const m2 = f.of('act').length;
  await clickMirror(page, '#btn');
  await sleep(150);
  assert.equal(f.of('act').length, m2, 'no acts after control ended');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('highlight gesture and sending the visitor to a page', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const { page, f, errors } = await openViewer(ctx, 'SessionKey=K1', (ws, fk) => fk.sessionStart(ws, { rc: { enabled: true, state: 'accepted' } }));
  await until(page, () => window.glanceViewer.snapshots === 1 && window.glanceViewer.rc.enabled);

  const cursor = () => page.evaluate(() => {
    const d = document.getElementById('glance-mirror').contentDocument;
    return d.defaultView.getComputedStyle(d.getElementById('box')).cursor;
  });
  assert.equal(await cursor(), 'auto');
  await page.click('#glance-highlight');
  assert.equal(await page.getAttribute('#glance-highlight', 'aria-pressed'), 'true');
  assert.equal(await cursor(), 'crosshair');
  await clickMirror(page, '#box');
  const g = await f.waitFor((m) => m.t === 'gesture', 'gesture');
  assert.deepEqual(g, { t: 'gesture', kind: 'outline', gid: GID.box });
  assert.equal(f.of('act').length, 0, 'highlight does not act');
  const o = await page.evaluate(() => {
    const el = document.getElementById('glance-outline');
    const k = Number(document.getElementById('glance-frame-box').dataset.scale);
    return { hidden: el.hidden, w: parseFloat(el.style.width), k };
  });
  assert.equal(o.hidden, false);
  assert.ok(Math.abs(o.w - (200 * o.k + 6)) < 1, 'outline around the box');
  await page.keyboard.press('Escape');
  await f.waitFor((m) => m.t === 'gesture' && m.kind === 'clear', 'clear');
  assert.equal(await page.evaluate(() => document.getElementById('glance-outline').hidden), true);
  assert.equal(await page.getAttribute('#glance-highlight', 'aria-pressed'), 'false');
  assert.equal(await cursor(), 'auto');

  await page.fill('#glance-nav-url', '/checkout');
  await page.click('#glance-nav-go');
  const nav = await f.waitFor((m) => m.t === 'nav', 'nav');
  assert.deepEqual(nav, { t: 'nav', url: '/checkout', confirm: true, open: false, link: true });
  await page.uncheck('#glance-nav-confirm');
  await page.click('#glance-nav-back');
  const back = await f.waitFor((m) => m.t === 'nav' && m.url === 'back', 'back');
  assert.equal(back.confirm, false);
  f.send({ t: 'navres', num: 1, ok: false, url: 'https://evil.test/', reason: 'untrusted' });
  await until(page, () => document.getElementById('glance-notice').textContent.includes('trusted domains'));
  f.send({ t: 'navres', num: 1, ok: true, url: 'http://shop.test/checkout' });
  await until(page, () => document.getElementById('glance-notice').textContent.includes('http://shop.test/checkout'));
  const results = await page.evaluate(() => window.glanceViewer.events.filter((e) => e.event === 'navigateresult').map((e) => e.data));
  assert.deepEqual(results, [{ ok: false, url: 'https://evil.test/', reason: 'untrusted' },
    { ok: true, url: 'http://shop.test/checkout', reason: null }]);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('authentication: login form, login key and ticket; credentials leave the address bar', { skip }, async () => {
  const ctx = await browser.newContext();
  const auth = [];
  await ctx.route('**/api/agent/auth', async (route) => {
    const body = route.request().postDataJSON();
    auth.push(body);
    const good = body.password === 'agnes-pass' || body.loginkey === '$1$9999999999$good' || body.ticket === 'T1CK3T';
    await route.fulfill(good
      ? { status: 200, contentType: 'application/json', body: JSON.stringify({ token: 'tok' + auth.length, expires: 9999999999, agent: AGNES }) }
      : { status: 401, contentType: 'application/json', body: JSON.stringify({ error: 'badcredentials' }) });
  });

  // No credentials: the server says auth -> login form -> POST -> reconnect with the token.
  const { page, f } = await openViewer(ctx, 'SessionKey=K1&wait=1', (ws, fk) => {
    if (!/[?&]token=/.test(ws.url())) {
      ws.send(JSON.stringify({ t: 'error', code: 'auth', msg: 'not authenticated' }));
      ws.close({ code: 1008, reason: 'auth' });
    } else {
      fk.sessionStart(ws);
    }
  });
  await until(page, () => document.body.dataset.state === 'login');
  assert.ok(await page.isVisible('#glance-login-form'));
  await page.fill('#glance-login-user', 'agnes');
  await page.fill('#glance-login-pass', 'wrong');
  await page.click('#glance-login-submit');
  await until(page, () => document.getElementById('glance-login-error').textContent === 'Wrong user name or password.');
  assert.equal(f.urls.length, 1, 'no reconnect with bad credentials');
  await page.fill('#glance-login-pass', 'agnes-pass');
  await page.keyboard.press('Enter');
  await until(page, () => document.body.dataset.state === 'active');
  assert.deepEqual(auth.map((a) => [a.username, a.password]), [['agnes', 'wrong'], ['agnes', 'agnes-pass']]);
  assert.match(f.urls[1], /[?&]key=K1&.*token=tok2/);

  // A login key: posted first, then the token; the key leaves the address bar.
  const k = await openViewer(ctx, 'SessionKey=K1&partnerid=1234&partneruserid=agnes%40example.com&loginkey=%241%249999999999%24good&wait=1');
  await until(k.page, () => document.body.dataset.state === 'active');
  assert.deepEqual(auth[2], { partnerid: 1234, partneruserid: 'agnes@example.com', loginkey: '$1$9999999999$good' });
  assert.match(k.f.urls[0], /token=tok3/);
  assert.equal(await k.page.evaluate(() => location.search), '?SessionKey=K1&wait=1');

  // A refused login key: the login form explains.
  const bad = await openViewer(ctx, 'SessionKey=K1&partnerid=1234&partneruserid=x&loginkey=nope');
  await until(bad.page, () => document.body.dataset.state === 'login');
  assert.match(await bad.page.textContent('#glance-login-error'), /login key was refused/);
  assert.equal(bad.f.urls.length, 0);

  // A join ticket: traded for a token (so a dropped socket can reconnect), not in the address bar.
  const t = await openViewer(ctx, 'SessionKey=K1&groupid=1234&ticket=T1CK3T');
  await until(t.page, () => document.body.dataset.state === 'active');
  assert.deepEqual(auth[auth.length - 1], { ticket: 'T1CK3T' });
  assert.match(t.f.urls[0], /[?&]group=1234&token=tok\d+/);
  assert.doesNotMatch(t.f.urls[0], /ticket=/);
  assert.equal(await t.page.evaluate(() => location.search), '?SessionKey=K1&groupid=1234');
  await ctx.close();
});

test('embedding API: GLANCE.Cobrowse.Agent in a parent page drives the viewer iframe', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const f = await fakeAgentSocket(ctx, (ws, fk) => fk.sessionStart(ws));
  // The console page: same origin as the viewer (frame-ancestors 'self'); an existing GLANCE is kept.
  await ctx.route(BASE + '/console-test.html', (route) => route.fulfill({ contentType: 'text/html', body: `<!DOCTYPE html>
<script>window.GLANCE = { Mine: 42, Cobrowse: { Other: 1 } };</script>
<script src="/agent/glance-cobrowse-agent.js"></script>
<iframe id="v" style="width:1200px;height:800px" src="/agentjoin/AgentView.aspx?SessionKey=K1&groupid=1234"></iframe>
<script>
  window.got = [];
  window.msgs = [];
  const A = GLANCE.Cobrowse.Agent;
  A.init(document.getElementById('v'));
  A.addEventListener('rc', () => { throw new Error('a broken listener'); });
  for (const n of ['connecting', 'connected', 'navigate', 'agents', 'rc', 'userstate', 'sessionEnded', 'rcrefused', 'navigateresult']) {
    A.addEventListener(n, (d) => window.got.push([n, d]));
  }
  A.addSessionMessageListener('note', (name, msg) => window.msgs.push([name, msg]));
</script>` }));
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(BASE + '/console-test.html');
  await until(page, () => window.got.some((g) => g[0] === 'navigate'));
  const got = await page.evaluate(() => window.got);
  const ev = (n) => got.find((g) => g[0] === n)[1];
  assert.deepEqual(ev('connecting'), { groupid: '1234', visitorid: 'K1', ssnkey: 'K1', service: 'cobrowse' });
  assert.deepEqual(ev('connected'), { ssnkey: 'K1', groupid: '1234', service: 'cobrowse' });
  assert.deepEqual(ev('navigate'), { browser: { name: 'firefox', platform: 'win', version: 120 }, visitorversion: '',
    url: 'http://shop.test/x', pagemasked: false, service: 'cobrowse' });
  assert.deepEqual(ev('agents'), { count: 1, agentlist: [{ ...AGNES, role: 'agent' }], service: 'cobrowse' });
  assert.deepEqual(ev('rc'), { enabled: false, suspended: false, service: 'cobrowse' }, 'a throwing listener breaks nothing');
  assert.deepEqual(await page.evaluate(() => [GLANCE.Mine, GLANCE.Cobrowse.Other, typeof GLANCE.Cobrowse.Agent.init]), [42, 1, 'function']);
  assert.deepEqual(await page.evaluate(() => GLANCE.Cobrowse.Agent.getSessionState('rc')), { enabled: false, suspended: false, service: 'cobrowse' });

  // Session messages both ways; a non-object message throws and sends nothing.
  const thrown = await page.evaluate(() => ['str', [1], null, 5, new Date()].map((m) => {
    try { GLANCE.Cobrowse.Agent.sendSessionMessage('hello', m); return 'sent'; } catch (e) { return e.constructor.name; }
  }));
  assert.deepEqual(thrown, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError']);
  await page.evaluate(() => GLANCE.Cobrowse.Agent.sendSessionMessage('hello', { foo: 123 }));
  const msg = await f.waitFor((m) => m.t === 'msg', 'msg');
  assert.deepEqual(msg, { t: 'msg', name: 'hello', data: { foo: 123 } });
  await sleep(100);
  assert.equal(f.of('msg').length, 1);
  f.send({ t: 'msg', name: 'note', data: { a: 1 } });
  f.send({ t: 'userstate', name: 'cart', value: { items: 2 } });
  await until(page, () => window.msgs.length === 1 && GLANCE.Cobrowse.Agent.getUserState('cart'));
  assert.deepEqual(await page.evaluate(() => [window.msgs[0], GLANCE.Cobrowse.Agent.getUserState('cart')]),
    [['note', { a: 1 }], { items: 2 }]);

  // Commands: requestRC, navigate; results come back as events.
  await page.evaluate(() => GLANCE.Cobrowse.Agent.requestRC(true));
  await f.waitFor((m) => m.t === 'rc' && m.on === true, 'rc on');
  f.send({ t: 'rc', enabled: true, state: 'accepted', suspended: false });
  await until(page, () => GLANCE.Cobrowse.Agent.getSessionState('rc').enabled === true);
  await page.evaluate(() => GLANCE.Cobrowse.Agent.navigate({ url: 'refresh', confirm: true }));
  const nav = await f.waitFor((m) => m.t === 'nav', 'nav');
  assert.deepEqual(nav, { t: 'nav', url: 'refresh', confirm: true, open: false, link: false });
  f.send({ t: 'navres', num: 1, ok: false, url: '', reason: 'declined' });
  f.send({ t: 'actres', id: 7, num: 1, ok: false, reason: 'masked' });
  await until(page, () => window.got.some((g) => g[0] === 'rcrefused') && window.got.some((g) => g[0] === 'navigateresult'));
  assert.deepEqual(await page.evaluate(() => [GLANCE.Cobrowse.Agent.getSessionState('rcrefused'), GLANCE.Cobrowse.Agent.getSessionState('navigateresult')]),
    [{ id: 7, reason: 'masked' }, { ok: false, url: '', reason: 'declined' }]);

  // Only the viewer frame's messages count: a forged event from elsewhere is ignored.
  await page.evaluate(() => window.postMessage({ glance_agent: { event: 'rc', data: { enabled: false, forged: true } } }, '*'));
  await sleep(100);
  assert.equal(await page.evaluate(() => GLANCE.Cobrowse.Agent.getSessionState('rc').forged), undefined);

  // leaveSession: only http(s); the viewer leaves (AgentLeft) and shows the target.
  assert.equal(await page.evaluate(() => { try { GLANCE.Cobrowse.Agent.leaveSession('javascript:alert(1)'); return 'sent'; } catch (e) { return e.name; } }), 'TypeError');
  await page.evaluate((u) => GLANCE.Cobrowse.Agent.leaveSession(u), BASE + '/agent/');
  await until(page, () => window.got.some((g) => g[0] === 'sessionEnded'));
  const ended = await page.evaluate(() => window.got.find((g) => g[0] === 'sessionEnded')[1]);
  assert.deepEqual(ended, { reason: 'AgentLeft', ssnkey: 'K1', ssnid: '', groupid: '1234', service: 'cobrowse' });
  await f.waitFor((m) => m.t === 'rc' && m.on === false, 'control given back on leaving');
  await until(page, () => {
    try { return document.getElementById('v').contentWindow.location.pathname === '/agent/'; } catch (e) { return false; }
  });
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('embedding API: late init gets the state; the viewer ignores commands from other windows', { skip }, async () => {
  const ctx = await browser.newContext();
  const f = await fakeAgentSocket(ctx, (ws, fk) => fk.sessionStart(ws));
  await ctx.route(BASE + '/console-late.html', (route) => route.fulfill({ contentType: 'text/html', body: `<!DOCTYPE html>
<iframe id="v" src="/agentjoin/AgentView.aspx?SessionKey=K1"></iframe>` }));
  const page = await ctx.newPage();
  await page.goto(BASE + '/console-late.html');
  const viewerFrame = page.frame({ url: /AgentView/ });
  await until(viewerFrame, () => window.glanceViewer && window.glanceViewer.snapshots === 1);
  // A window that is not the parent posts a command: ignored.
  await viewerFrame.evaluate(() => window.postMessage({ glance_agent_cmd: { fn: 'requestRC', args: [true] } }, '*'));
  await sleep(150);
  assert.equal(f.of('rc').length, 0);
  await page.addScriptTag({ url: '/agent/glance-cobrowse-agent.js' });
  await page.evaluate(() => GLANCE.Cobrowse.Agent.init('v'));
  await until(page, () => !!GLANCE.Cobrowse.Agent.getSessionState('navigate'));
  assert.equal(await page.evaluate(() => GLANCE.Cobrowse.Agent.getSessionState('connected').ssnkey), 'K1');
  await page.evaluate(() => GLANCE.Cobrowse.Agent.requestRC(true));
  await f.waitFor((m) => m.t === 'rc' && m.on === true, 'rc from the parent');

  // Accessibility: the command sends `a11y`; the state follows the session's `a11y`.
  assert.deepEqual(await page.evaluate(() => GLANCE.Cobrowse.Agent.getSessionState('accessibility')),
    { enabled: false, service: 'cobrowse' });
  await page.evaluate(() => GLANCE.Cobrowse.Agent.enableAccessibility(true));
  assert.deepEqual(await f.waitFor((m) => m.t === 'a11y', 'a11y'), { t: 'a11y', on: true });
  assert.equal(await page.evaluate(() => GLANCE.Cobrowse.Agent.accessibilityEnabled()), false, 'not before the server says so');
  await page.evaluate(() => GLANCE.Cobrowse.Agent.addEventListener('accessibility', (d) => { window.a11yEvents = (window.a11yEvents || []).concat([d]); }));
  f.send({ t: 'session', key: 'K1', url: 'http://shop.test/x', state: 'active', rc: { enabled: false, state: 'off' }, a11y: true });
  await until(page, () => GLANCE.Cobrowse.Agent.accessibilityEnabled());
  assert.deepEqual(await page.evaluate(() => window.a11yEvents), [{ enabled: true, service: 'cobrowse' }]);
  assert.equal(await viewerFrame.evaluate(() => window.glanceViewer.accessibilityEnabled()), true);
  assert.equal(await viewerFrame.getAttribute('#glance-a11y', 'aria-pressed'), 'true');
  // A session frame repeating it fires nothing.
  f.send({ t: 'session', key: 'K1', url: 'http://shop.test/x', state: 'active', a11y: true });
  await sleep(100);
  assert.equal(await page.evaluate(() => window.a11yEvents.length), 1);
  // The element the agent outlines is also announced to the agent in the live region.
  await viewerFrame.evaluate(() => window.glanceViewer.gesture(6));
  await until(viewerFrame, () => document.getElementById('glance-notice').textContent === 'Highlighted <button> \u201cBuy\u201d');
  assert.equal(await viewerFrame.getAttribute('#glance-notice', 'aria-live'), 'polite');
  // The toolbar switch turns it off (another agent could too: the session frame decides).
  await viewerFrame.click('#glance-a11y');
  assert.deepEqual(await f.waitFor((m) => m.t === 'a11y' && m.on === false, 'a11y off'), { t: 'a11y', on: false });
  f.send({ t: 'session', key: 'K1', url: 'http://shop.test/x', state: 'active', a11y: false });
  await until(page, () => !GLANCE.Cobrowse.Agent.accessibilityEnabled());
  assert.equal(await viewerFrame.getAttribute('#glance-a11y', 'aria-pressed'), 'false');
  assert.deepEqual(await page.evaluate(() => window.a11yEvents.at(-1)), { enabled: false, service: 'cobrowse' });
  assert.match(await viewerFrame.textContent('#glance-notice'), /Screen reader support is off/);

  // A dropped connection is shown on the mirror until the socket is back.
  await f.ws.close({ code: 1011, reason: 'test drop' });
  await until(viewerFrame, () => document.getElementById('glance-overlay-text').textContent.startsWith('Connection lost'));
  await until(viewerFrame, () => document.body.dataset.state === 'active' && !document.body.dataset.sync);
  await ctx.close();
});

test('a viewer opened with window.open posts its events to the opener at the origin= origin only', { skip }, async () => {
  const ctx = await browser.newContext();
  const f = await fakeAgentSocket(ctx, (ws, fk) => fk.sessionStart(ws));
  await ctx.route(BASE + '/opener-test.html', (route) => route.fulfill({ contentType: 'text/html', body: `<!DOCTYPE html>
<script>
  window.got = [];
  window.pops = {};
  addEventListener('message', (e) => {
    const m = e.data && e.data.glance_agent;
    if (!m) return;
    const who = Object.keys(window.pops).find((k) => window.pops[k] === e.source) || 'unknown';
    window.got.push({ who, origin: e.origin, event: m.event, data: m.data });
  });
</script>` }));
  const page = await ctx.newPage();
  await page.goto(BASE + '/opener-test.html');
  const v = '/agentjoin/AgentView.aspx?SessionKey=K1&origin=';
  await page.evaluate((u) => { window.pops.other = window.open(u + encodeURIComponent('http://elsewhere.test'), 'other'); }, v);
  await until(page, () => window.pops.other.glanceViewer && window.pops.other.glanceViewer.snapshots === 1);
  await page.evaluate((u) => { window.pops.good = window.open(u + encodeURIComponent(location.origin + '/some/page'), 'good'); }, v);
  await until(page, () => window.got.some((g) => g.event === 'connected'));
  f.send({ t: 'ended', reason: 'visitor' }); // to the last connected viewer: "good"
  await until(page, () => window.got.some((g) => g.event === 'sessionended'));
  await sleep(300);
  const got = await page.evaluate(() => window.got);
  assert.ok(got.every((g) => g.who === 'good' && g.origin === BASE), JSON.stringify(got));
  assert.deepEqual(got.find((g) => g.event === 'sessionended').data,
    { reason: 'VisitorLeft', ssnkey: 'K1', ssnid: '', groupid: '', service: 'cobrowse' });
  assert.deepEqual(got.map((g) => g.event).slice(0, 2), ['connecting', 'connected']);
  assert.deepEqual(got.find((g) => g.event === 'connected').data, { ssnkey: 'K1', groupid: '', service: 'cobrowse' });

  // Another origin (not among the viewer's frame-ancestors) naming itself in origin=: nothing.
  const LOCAL = BASE.replace('127.0.0.1', 'localhost');
  await ctx.route(LOCAL + '/opener-test.html', (route) => route.fulfill({ contentType: 'text/html', body: `<!DOCTYPE html>
<script>window.got = []; addEventListener('message', (e) => { if (e.data && e.data.glance_agent) window.got.push(e.data.glance_agent.event); });</script>` }));
  const foreign = await ctx.newPage();
  await foreign.goto(LOCAL + '/opener-test.html');
  const popup = foreign.waitForEvent('popup');
  await foreign.evaluate((u) => { window.pop = window.open(u + '/agentjoin/AgentView.aspx?SessionKey=K1&origin=' + encodeURIComponent(location.origin)); }, BASE);
  const pop = await popup;
  await until(pop, () => window.glanceViewer && window.glanceViewer.snapshots === 1);
  await sleep(300);
  assert.deepEqual(await foreign.evaluate(() => window.got), []);
  assert.equal(await pop.evaluate(() => window.glanceViewer.openerOrigin), null);
  await ctx.close();
});
