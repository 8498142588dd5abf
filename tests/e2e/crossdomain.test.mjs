// Cross-domain sessions end to end with three real origins of one static site: http://localhost:P,
// http://127.0.0.1:P (another cookie jar) and http://shop.test:P (mapped to 127.0.0.1 with
// --host-resolver-rules), all trusted for group 1234; evil.test is not. The session server is
// http://127.0.0.1:S. Links carry the session over, crossDomain() opens the helper of shop.test,
// tokens are single-use, bound to their origin, never in a URL the server sees.
// Run: node --test tests/e2e/crossdomain.test.mjs   (after `make build`)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { AGENTS_TOML, E2E, sleep } from './harness.mjs';

let e2e, site, tmp;
const hits = [];

before(async () => {
  const pages = {};
  site = http.createServer((req, res) => {
    hits.push(req.headers.host + req.url);
    const p = new URL(req.url, 'http://x').pathname;
    if (pages[p] == null) { res.writeHead(404); return res.end('not found'); }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(pages[p]());
  });
  site.listen(0, '127.0.0.1');
  await once(site, 'listening');
  const P = site.address().port;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glance-xd-'));
  const config = path.join(tmp, 'config.toml');
  fs.writeFileSync(config, `[groups.1234]
masks = [".glance_masked"]
trusted_domains = ["localhost", "127.0.0.1", "shop.test"]
crossdomain_helpers = ["http://shop.test:${P}/helper.html"]
${AGENTS_TOML}`);
  e2e = await E2E.start({ config, browserArgs: ['--host-resolver-rules=MAP shop.test 127.0.0.1, MAP evil.test 127.0.0.1'],
    ignoreDefaultArgs: ['--disable-popup-blocking'] });
  const tag = () => `<script id="glance-cobrowse" src="${e2e.server.base}/cobrowse/GlanceCobrowseLoader.js" data-groupid="1234" data-site="staging"></script>
    <script>window.__events = [];
      for (const n of ['sessionstart', 'sessioncontinue', 'sessionend', 'error'])
        GLANCE.Cobrowse.Visitor.addEventListener(n, (e) => __events.push([n, JSON.parse(JSON.stringify(e ?? null))]));</script>`;
  const shop = (name) => () => `<!doctype html><html><head><meta charset="utf-8"><title>${name}</title>${tag()}</head><body>
    <h1>Page ${name}</h1>
    <a id="to-b" href="http://127.0.0.1:${P}/b.html#top">to b</a>
    <a id="to-shop" href="http://shop.test:${P}/c.html">to shop</a>
    <a id="to-b-tab" href="http://127.0.0.1:${P}/b.html" target="_blank" rel="noopener">to b, new tab</a>
    <a id="to-evil" href="http://evil.test:${P}/c.html">to evil</a>
    <button id="xd" onclick="GLANCE.Cobrowse.Visitor.crossDomain().then((r) => { window.__xd = r; })">xd</button>
  </body></html>`;
  pages['/a.html'] = shop('a');
  pages['/b.html'] = shop('b');
  pages['/c.html'] = shop('c');
  pages['/helper.html'] = () => `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">${tag()}</head><body></body></html>`;
});
after(async () => {
  site?.close();
  await e2e?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function it(name, fn, { timeout = 90000 } = {}) {
  test(name, { timeout }, async (t) => {
    if (!e2e) throw new Error('harness did not start');
    await e2e.run(fn)(t);
  });
}

const at = (host, p) => `http://${host}:${site.address().port}${p}`;
const ready = (page) => page.waitForFunction(() => window.GLANCE?.Cobrowse?.Loader, null, { timeout: 10000 })
  .then(() => page.evaluate(() => window.GLANCE.Cobrowse.Loader.ready.then((e) => !!e)));
const keyOf = (page) => page.evaluate(() => window.GLANCE.Cobrowse.Visitor.getSessionState()?.sessionKey || null);
async function waitKey(page, key, timeout = 10000) {
  await page.waitForFunction((k) => window.GLANCE?.Cobrowse?.Visitor.getSessionState()?.sessionKey === k, key, { timeout, polling: 50 });
}
async function waitAgentUrl(s, key, host) {
  const t0 = Date.now();
  for (;;) {
    const info = await s.e2e.server.sessionInfo(key);
    if (info.body && String(info.body.url).includes(`//${host}:`) && info.body.state === 'active') return info.body;
    if (Date.now() - t0 > 10000) throw new Error(`the agent's session did not follow to ${host}: ${JSON.stringify(info.body)}`);
    await sleep(100);
  }
}
const events = (page, name) => page.evaluate((n) => window.__events.filter(([m]) => m === n).map(([, e]) => e), name);

/** POST to the session server with an explicit Origin header (node:http: nothing filters it). */
function post(p, body, origin) {
  return new Promise((resolve, reject) => {
    const u = new URL(p, e2e.server.base);
    const req = http.request(u, { method: 'POST', headers: origin ? { origin } : {} }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data || 'null') }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

it('a plain link to a trusted domain carries the session over; the agent follows; untrusted links do nothing special', async (s) => {
  const v = await s.openVisitor(at('localhost', '/a.html'), { waitForGlance: false });
  assert.ok(await ready(v));
  const key = await s.startSession(v);
  await s.openAgent(key);
  await waitAgentUrl(s, key, 'localhost');
  hits.length = 0;
  await v.click('#to-b');
  await v.waitForURL(at('127.0.0.1', '/b.html#top'));
  await waitKey(v, key);
  // The token is gone from the URL and the history entry; the other fragment stays; no request carried it.
  assert.equal(await v.evaluate(() => location.href), at('127.0.0.1', '/b.html#top'));
  assert.ok(!hits.some((h) => /glance_xd/.test(h)), `no request carried the token: ${hits}`);
  assert.doesNotMatch(await v.evaluate(() => document.referrer), /glance_xd/);
  assert.match(await v.evaluate(() => document.cookie), /glance_ssn_info=v1\./, 'stored on 127.0.0.1');
  await v.waitForFunction(() => window.__events.some(([n]) => n === 'sessioncontinue'), null, { timeout: 10000 });
  assert.deepEqual(await events(v, 'sessioncontinue'), [{ sessionKey: key }]);
  assert.deepEqual(await events(v, 'sessionstart'), [], 'continued, not a new session');
  await waitAgentUrl(s, key, '127.0.0.1');
  await s.waitAgentState('active');
  // Untrusted domain: a plain navigation, no token, no session there.
  await v.click('#to-evil');
  await v.waitForURL(at('evil.test', '/c.html'));
  assert.ok(await ready(v));
  await sleep(500);
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  assert.ok(!hits.some((h) => /glance_xd/.test(h)));
});

it('a target=_blank link to a trusted domain carries the session into the new tab (no opener, no token left)', async (s) => {
  const v = await s.openVisitor(at('localhost', '/a.html'), { waitForGlance: false });
  assert.ok(await ready(v));
  const key = await s.startSession(v);
  hits.length = 0;
  const [tab] = await Promise.all([s.visitorContext.waitForEvent('page'), v.click('#to-b-tab')]);
  await tab.waitForURL(at('127.0.0.1', '/b.html'), { timeout: 10000 });
  assert.ok(await ready(tab));
  await waitKey(tab, key);
  assert.equal(await tab.evaluate(() => location.href), at('127.0.0.1', '/b.html'), 'the token is gone from the URL');
  assert.equal(await tab.evaluate(() => window.opener), null, 'no opener');
  assert.ok(!hits.some((h) => /glance_xd/.test(h)), `no request carried the token: ${hits}`);
  await tab.waitForFunction(() => window.__events.some(([n]) => n === 'sessioncontinue'), null, { timeout: 10000 });
  assert.deepEqual(await events(tab, 'sessionstart'), [], 'continued, not a new session');
  assert.equal(await v.evaluate(() => location.href), at('localhost', '/a.html'), 'the first tab stays where it was');
});

it('crossDomain() from a click stores the session on each helper domain; untrusted url, blocked popup and promptCrossDomain', async (s) => {
  const v = await s.openVisitor(at('localhost', '/a.html'), { waitForGlance: false });
  assert.ok(await ready(v));
  const key = await s.startSession(v);
  await s.openAgent(key);
  const popups = [];
  s.visitorContext.on('page', (p) => popups.push(p));
  await v.click('#xd');
  await v.waitForFunction(() => window.__xd !== undefined, null, { timeout: 20000 });
  assert.equal(await v.evaluate(() => window.__xd), true, JSON.stringify(await events(v, 'error')));
  assert.equal(popups.length, 1, 'one helper window');
  await popups[0].waitForEvent('close', { timeout: 5000 }).catch(() => {});
  assert.ok(popups[0].isClosed(), 'the helper window is closed');
  // shop.test now has the session: a plain navigation continues it and the agent follows.
  await v.goto(at('shop.test', '/c.html'));
  await waitKey(v, key);
  await waitAgentUrl(s, key, 'shop.test');
  // Twice is harmless (same run while one is in progress; a later run repeats it).
  await v.evaluate(() => { window.__xd = undefined; });
  // An untrusted url: UNTRUSTED_ORIGIN, no navigation.
  const r = await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.crossDomain({ url: 'http://evil.test:1/x' }));
  assert.equal(r, false);
  assert.ok((await events(v, 'error')).some((e) => e.code === 'UNTRUSTED_ORIGIN'));
  assert.equal(await keyOf(v), key);
  // Back on localhost: the popup is blocked when the click's activation was used up already.
  await v.goto(at('localhost', '/a.html'));
  await waitKey(v, key);
  const blocked = await v.evaluate(() => { window.open('about:blank'); return window.GLANCE.Cobrowse.Visitor.crossDomain(); });
  assert.equal(blocked, false);
  assert.ok((await events(v, 'error')).some((e) => e.code === 'POPUP_BLOCKED'), JSON.stringify(await events(v, 'error')));
  // promptCrossDomain(): the visitor's click on "Continue" (default UI dialog) runs crossDomain.
  for (const p of s.visitorContext.pages()) if (p !== v) await p.close();
  await v.evaluate(() => window.GLANCE.Cobrowse.VisitorUI.promptCrossDomain());
  const before = popups.length;
  await v.click('#glance_xd_continue');
  await v.locator('#glance_xd').waitFor({ state: 'detached' });
  const t0 = Date.now();
  while (popups.length === before && Date.now() - t0 < 5000) await sleep(50);
  assert.ok(popups.length > before, 'the helper opened from the prompt');
});

it('hand-off tokens: untrusted target refused, bound to the origin, single use', async (s) => {
  const v = await s.openVisitor(at('localhost', '/a.html'), { waitForGlance: false });
  assert.ok(await ready(v));
  const key = await s.startSession(v);
  const raw = (await v.evaluate(() => document.cookie)).match(/glance_ssn_info=([^;]+)/)[1];
  const sid = raw.split('.')[2];
  const ask = (target) => post('/api/handoff', { group: '1234', key, sid, target });
  assert.deepEqual(await ask(at('evil.test', '')), { status: 403, body: { error: 'UNTRUSTED_ORIGIN' } });
  assert.equal((await post('/api/handoff', { group: '1234', key, sid: 'ff'.repeat(16), target: at('shop.test', '') })).status, 404);
  const shop = at('shop.test', '');
  let t = (await ask(shop)).body.token;
  assert.match(t, /^[0-9a-f]{32}$/);
  assert.deepEqual(await post('/api/handoff/redeem', { token: t }, at('127.0.0.1', '')), { status: 403, body: { error: 'WRONG_ORIGIN' } });
  assert.equal((await post('/api/handoff/redeem', { token: t }, shop)).body.error, 'BAD_TOKEN', 'burnt by the wrong origin');
  t = (await ask(shop)).body.token;
  const ok = await post('/api/handoff/redeem', { token: t }, shop);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.session, `v1.${key}.${sid}.1234.0`);
  assert.equal((await post('/api/handoff/redeem', { token: t }, shop)).body.error, 'BAD_TOKEN', 'single use');
  // A forged token in a page's fragment: an error event, removed from the URL, nothing continues.
  await v.goto(at('shop.test', '/c.html#glance_xd=' + 'ab'.repeat(16)));
  assert.ok(await ready(v));
  assert.equal(await v.evaluate(() => location.hash), '');
  assert.ok((await events(v, 'error')).some((e) => e.code === 'BAD_TOKEN'));
});
