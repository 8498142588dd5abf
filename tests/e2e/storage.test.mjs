// Where the session lives between pages: each data-cookietype, the cookie's domain (registrable
// domain, public-suffix platforms, data-cookiedomain, IPs, localhost, unparseable hosts), a cookie
// deleted by site code under `dual`, and storage that is not available at all.
// Host names reach the test server through Chromium's --host-resolver-rules.
// Run: node --test tests/e2e/storage.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { events, eventNames, start, waitEvent, ready, visitor } from './events.mjs';

const it = suite({ browserArgs: ['--host-resolver-rules=MAP * 127.0.0.1'] });

/** Opens the visitor page `tagged.html?query` on `host`. */
async function openOn(s, host, query = '') {
  if (!s.visitor) {
    s.visitor = await s.visitorContext.newPage();
    s._watch(s.visitor, 'visitor');
  }
  await s.visitor.goto(it.harness().urlOn(host, `/test-pages/tagged.html${query ? '?' + query : ''}`), { waitUntil: 'load' });
  await ready(s.visitor);
  return s.visitor;
}

/** Our session cookies in the visitor context. */
async function sessionCookies(s) {
  return (await s.visitorContext.cookies()).filter((c) => c.name === 'glance_ssn_info');
}

async function localItem(page, key = 'glance_ssn_info') {
  return page.evaluate((k) => localStorage.getItem(k), key);
}

/** After a navigation: the session continues with `key` (sessioncontinue, no sessionstart). */
async function continues(page, key) {
  const cont = await waitEvent(page, 'sessioncontinue');
  assert.equal(cont.sessionKey, key);
  assert.ok(!(await eventNames(page)).includes('sessionstart'), 'a continuation, not a new session');
  assert.equal(await visitor(page, 'inSession'), true);
}

async function errors(page) {
  return (await events(page)).filter(([n]) => n === 'error').map(([, e]) => e);
}

for (const type of ['normal', 'secure', 'ls', 'dual']) {
  it(`data-cookietype=${type}: stored as documented, continues on the next page, cleared at the end`, async (s) => {
    const v = await openOn(s, '127.0.0.1', `cookietype=${type}`);
    const key = await start(v);
    const cookies = await sessionCookies(s);
    const local = await localItem(v);
    if (type === 'ls') {
      assert.equal(cookies.length, 0, 'ls: no cookie');
    } else {
      assert.equal(cookies.length, 1, JSON.stringify(cookies));
      const c = cookies[0];
      assert.equal(c.domain, '127.0.0.1', 'an IP gets a host-only cookie');
      assert.equal(c.path, '/');
      assert.equal(c.sameSite, 'Lax');
      assert.equal(c.secure, type === 'secure');
      assert.ok(c.name.length + c.value.length < 4096);
      assert.ok(c.value.includes(key));
    }
    if (type === 'ls' || type === 'dual') assert.ok(local && local.includes(key), `localStorage holds it: ${local}`);
    else assert.equal(local, null, 'no localStorage copy');
    assert.deepEqual(await errors(v), []);
    await openOn(s, '127.0.0.1', `cookietype=${type}`);
    await continues(s.visitor, key);
    await visitor(s.visitor, 'stopSession');
    await waitEvent(s.visitor, 'sessionend', (e) => e.reason === 'visitor');
    assert.equal((await sessionCookies(s)).length, 0, 'cookie removed');
    assert.equal(await localItem(s.visitor), null, 'localStorage removed');
    await openOn(s, '127.0.0.1', `cookietype=${type}`);
    await sleep(300);
    assert.equal(await visitor(s.visitor, 'inSession'), false);
  });
}

it('dual: site code deleting the cookie does not end the session (localStorage keeps it)', async (s) => {
  const v = await openOn(s, '127.0.0.1', 'cookietype=dual');
  const key = await start(v);
  await v.evaluate(() => { document.cookie = 'glance_ssn_info=; Path=/; Max-Age=0'; });
  assert.equal((await sessionCookies(s)).length, 0, 'the site deleted our cookie');
  await openOn(s, '127.0.0.1', 'cookietype=dual');
  await continues(s.visitor, key);
  for (let i = 0; i < 50 && (await sessionCookies(s)).length === 0; i++) await sleep(100);
  assert.equal((await sessionCookies(s)).length, 1, 'the cookie is written again');
  // Under `normal` the same deletion ends the session's continuity (contrast).
  await visitor(s.visitor, 'stopSession');
  await openOn(s, '127.0.0.1', 'cookietype=normal');
  await start(s.visitor);
  await s.visitor.evaluate(() => { document.cookie = 'glance_ssn_info=; Path=/; Max-Age=0'; });
  await openOn(s, '127.0.0.1', 'cookietype=normal');
  await sleep(500);
  assert.equal(await visitor(s.visitor, 'inSession'), false);
});

it('subdomains share one session: the cookie is on the registrable domain', async (s) => {
  const v = await openOn(s, 'a.example.com');
  const key = await start(v);
  const [c] = await sessionCookies(s);
  assert.equal(c.domain, '.example.com');
  await openOn(s, 'b.example.com');
  await continues(s.visitor, key);
  assert.deepEqual(await errors(s.visitor), []);
});

it('a public-suffix platform host: the session stays on its own host name across pages, and an error says so', async (s) => {
  const v = await openOn(s, 'shop.azurewebsites.net');
  const key = await start(v);
  const cookies = await sessionCookies(s);
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].domain, '.shop.azurewebsites.net');
  const err = await waitEvent(v, 'error', (e) => e.code === 'storage');
  assert.match(err.msg, /public suffix azurewebsites\.net/);
  assert.match(err.msg, /data-cookiedomain="shop\.azurewebsites\.net"/);
  const names = (await events(v)).map(([n]) => n);
  assert.ok(names.indexOf('sessionstart') < names.indexOf('error'), 'reported after the start');
  assert.equal(await visitor(v, 'inSession'), true);
  await openOn(s, 'shop.azurewebsites.net');
  await continues(s.visitor, key);
  // The agent sees the page (the session did not end right after starting).
  await s.openAgent(key);
  await s.mirrorMatches();
});

it('data-cookiedomain on a public suffix: the refused cookie is detected, host-only fallback, error says so', async (s) => {
  const v = await openOn(s, 'shop.herokuapp.com', 'cookiedomain=herokuapp.com');
  const key = await start(v);
  const err = await waitEvent(v, 'error', (e) => e.code === 'storage');
  assert.match(err.msg, /refused the session cookie on Domain=herokuapp\.com/);
  assert.match(err.msg, /host-only/);
  const cookies = await sessionCookies(s);
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].domain, 'shop.herokuapp.com', 'host-only cookie');
  assert.equal(await visitor(v, 'inSession'), true, 'the session did not end');
  await openOn(s, 'shop.herokuapp.com', 'cookiedomain=herokuapp.com');
  await continues(s.visitor, key);
});

it('data-cookiedomain naming the host is used as is', async (s) => {
  const v = await openOn(s, 'abcco.azurewebsites.net', 'cookiedomain=abcco.azurewebsites.net');
  const key = await start(v);
  const [c] = await sessionCookies(s);
  assert.equal(c.domain, '.abcco.azurewebsites.net');
  assert.deepEqual(await errors(v), []);
  await openOn(s, 'abcco.azurewebsites.net', 'cookiedomain=abcco.azurewebsites.net');
  await continues(s.visitor, key);
});

it('an unparseable host: error with ERR_DOMAINPARSE, and the session still continues (host-only)', async (s) => {
  const v = await openOn(s, 'my_shop.test');
  const key = await start(v);
  const err = await waitEvent(v, 'error', (e) => /ERR_DOMAINPARSE/.test(e.msg));
  assert.equal(err.code, 'storage');
  assert.match(err.msg, /my_shop\.test/);
  await openOn(s, 'my_shop.test');
  await continues(s.visitor, key);
  // Garbage in data-cookiedomain is reported the same way.
  await visitor(s.visitor, 'stopSession');
  await openOn(s, '127.0.0.1', 'cookiedomain=' + encodeURIComponent('not a domain!'));
  await start(s.visitor);
  const e2 = await waitEvent(s.visitor, 'error', (e) => /ERR_DOMAINPARSE/.test(e.msg));
  assert.match(e2.msg, /not a domain!/);
});

it('local development: localhost works across pages without errors', async (s) => {
  const v = await openOn(s, 'localhost');
  const key = await start(v);
  const [c] = await sessionCookies(s);
  assert.equal(c.domain, 'localhost');
  await openOn(s, 'localhost');
  await continues(s.visitor, key);
  assert.deepEqual(await errors(s.visitor), []);
});

it('storage unavailable (cookies blocked, QuotaExceededError): the page still cobrowses, error says why', async (s) => {
  await s.visitorContext.addInitScript(() => {
    Object.defineProperty(Document.prototype, 'cookie', { configurable: true, get() { return ''; }, set(v) { /* blocked */ } });
    Storage.prototype.setItem = function () { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };
  });
  const v = await openOn(s, '127.0.0.1', 'cookietype=dual');
  const key = await start(v);
  const err = await waitEvent(v, 'error', (e) => e.code === 'storage');
  assert.match(err.msg, /QuotaExceededError/);
  assert.match(err.msg, /cannot continue on other pages/);
  assert.equal(await visitor(v, 'inSession'), true);
  await s.openAgent(key);
  await s.mirrorMatches();
  await v.evaluate(() => { document.getElementById('title').textContent = 'changed while unstorable'; });
  await s.mirrorMatches();
  assert.equal(s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror').length, 0, 'nothing thrown into the page');
  await openOn(s, '127.0.0.1', 'cookietype=dual');
  await sleep(500);
  assert.equal(await visitor(s.visitor, 'inSession'), false, 'no session to continue');
});
