// Presence end to end: an agent console sees the visitor arrive, reads presence data, signals,
// invokes showTerms; the visitor accepts and a cobrowse session starts without a code being read
// out. Forged, expired and wrong-group tokens, foreign origins and disallowed functions are refused.
// Run: node --test tests/e2e/presence.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { loginKeyParams, sleep } from './harness.mjs';
import { suite } from './suite.mjs';

const it = suite();

/** The test config's presence_secret (tests/e2e/test-config.toml). */
const PRESENCE_SECRET = 'e2e-presence-secret';

const log = (p) => p.evaluate(() => window.__log);
async function waitLog(page, name, pred = () => true, timeout = 15000) {
  const t0 = Date.now();
  for (;;) {
    const hit = (await log(page)).find(([n, d]) => n === name && pred(d));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name}; log: ${JSON.stringify(await log(page))}`);
    await sleep(50);
  }
}

const visitorId = () => String(50000000 + Math.floor(Math.random() * 40000000));

async function console_(s) {
  const c = await s.agentContext.newPage();
  s._watch(c, 'crm');
  await c.goto(it.harness().url('/test-pages/presence-agent.html'));
  return c;
}

/** A visitor page with data-presence="on" for `vid` (tagged.js records signals into window.__signals). */
async function presenceVisitor(s, vid) {
  const v = await s.openVisitor(`/test-pages/tagged.html?presence=on&visitorid=${vid}`);
  await v.waitForFunction(() => window.GLANCE.Presence && window.GLANCE.Presence.Visitor.instance, null, { polling: 50 });
  return v; // tagged.js records signals into window.__signals
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** A token of the server's, re-signed with `claims` changed (what a forger with the secret could do). */
function resign(token, change, secret = PRESENCE_SECRET) {
  const [h, c] = token.split('.');
  const claims = { ...JSON.parse(Buffer.from(c, 'base64url').toString()), ...change };
  const body = h + '.' + b64url(JSON.stringify(claims));
  return body + '.' + b64url(crypto.createHmac('sha256', secret).update(body).digest());
}

it('presence: the agent sees the visitor arrive, reads presence, signals, and starts a session with showTerms', async (s) => {
  const vid = visitorId();
  const c = await console_(s);
  await c.evaluate((p) => GLANCE.Agent.authenticate(p), loginKeyParams());
  await c.evaluate((p) => GLANCE.Authorization.authorize({ credentials: p, groupid: '1234' }), loginKeyParams());
  // The agent watches before the visitor is there.
  await c.evaluate((id) => { window.__pa = window.watchVisitor(id); }, vid);
  await waitLog(c, 'pa:visitorconn', (d) => d.connected === false);
  // The visitor arrives.
  const v = await presenceVisitor(s, vid);
  await waitLog(c, 'pa:visitorconn', (d) => d.connected === true);
  await waitLog(c, 'pa:visitorsock', (d) => d.connected === true);
  const data = await waitLog(c, 'pa:presence', (d) => d && typeof d.url === 'string');
  assert.match(data.url, /tagged\.html\?presence=on/);
  assert.equal(data.browser.name, 'chrome');
  // The visitor's page adds presence data: the agent gets it.
  await v.evaluate(() => GLANCE.Presence.Visitor.instance.presence({ data: { cart: 3 } }));
  await waitLog(c, 'pa:presence', (d) => d && d.cart === 3);
  // REST lookup: present, with the data.
  const looked = await c.evaluate(() => new Promise((resolve) => window.__pa.lookupVisitor({ onsuccess: resolve, onfail: (r) => resolve({ fail: r }) })));
  assert.equal(looked.visitorid, vid);
  assert.ok(looked.visitorpresent, JSON.stringify(looked));
  assert.equal(looked.data.cart, 3);
  // A signal reaches the visitor's onsignal.
  const sig = await c.evaluate(() => new Promise((resolve) => window.__pa.signalVisitor({ data: { command: 'startchat', chatid: '56789' }, onsuccess: () => resolve('ok'), onfail: resolve })));
  assert.equal(sig, 'ok');
  await v.waitForFunction(() => window.__signals.length === 1, null, { polling: 50 });
  assert.deepEqual(await v.evaluate(() => window.__signals), [{ command: 'startchat', chatid: '56789' }]);
  // Between pages (no socket for a moment) the visitor stays present, and a signal sent meanwhile
  // reaches the next page.
  await v.goto('about:blank');
  await waitLog(c, 'pa:visitorsock', (d) => d.connected === false);
  const between = await c.evaluate(() => new Promise((resolve) => window.__pa.signalVisitor({ data: { step: 'between' }, onsuccess: () => resolve('ok'), onfail: resolve })));
  assert.equal(between, 'ok', 'a visitor between pages is still present');
  await v.goto(it.harness().url(`/test-pages/tagged.html?presence=on&visitorid=${vid}&page=2`));
  await v.waitForFunction(() => window.__signals && window.__signals.length === 1, null, { polling: 50, timeout: 10000 });
  assert.deepEqual(await v.evaluate(() => window.__signals), [{ step: 'between' }]);
  assert.ok(!(await log(c)).some(([n, d], i, all) => n === 'pa:visitorconn' && d.connected === false &&
    all.findIndex(([m, e]) => m === 'pa:visitorconn' && e.connected === true) < i), 'never reported gone while navigating');
  // Functions outside the allow-list are refused (and never run).
  for (const func of ['GLANCE.Cobrowse.Visitor.setUserState', 'alert', 'GLANCE.Cobrowse.Visitor.constructor']) {
    const r = await c.evaluate((f) => new Promise((resolve) => window.__pa.invokeVisitor({ func: f, args: {}, onsuccess: () => resolve('ok'), onfail: resolve })), func);
    assert.equal(r, 'forbidden', func);
  }
  // presenceStartSession: showTerms on the visitor's side (the default UI), the agent hears it.
  await c.evaluate((id) => GLANCE.Agent.presenceConnect(id), vid);
  const joined = c.evaluate((id) => GLANCE.Agent.presenceStartSession(id).then(() => 'joined', (e) => 'failed: ' + e), vid);
  await v.locator('#glance_terms').waitFor({ state: 'visible' });
  assert.equal((await waitLog(c, 'pa:terms', (d) => d.status === 'displayed')).status, 'displayed');
  await waitLog(c, 'presenceOnTerms', (d) => d.status === 'displayed');
  // The visitor accepts: the session starts with the visitor id as its key; the viewer opens.
  const popup = s.agentContext.waitForEvent('page');
  await v.click('#glance_terms_accept');
  await waitLog(c, 'pa:terms', (d) => d.status === 'accepted');
  const st = await v.waitForFunction(() => { const x = GLANCE.Cobrowse.Visitor.getSessionState(); return x && x.sessionKey; }, null, { polling: 50 });
  assert.equal(await st.jsonValue(), vid, 'no code read out: the session key is the visitor id');
  await waitLog(c, 'pa:visitorsessionstart');
  s.agent = await popup;
  s._watch(s.agent, 'agent');
  assert.equal(await joined, 'joined');
  await s.waitAgentState('active');
  await s.mirrorMatches({ visitor: v });
  await waitLog(c, 'connected', (d) => d.ssnkey === vid);
});

it('presence security: forged, expired and wrong-group tokens, foreign origins, long tokens and disallowed functions are refused', async (s) => {
  const base = it.harness().url('/');
  const authorize = (body, headers = {}) => fetch(new URL('/api/agent/authorize', base), {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const res = await authorize({ ...loginKeyParams(), partnerid: 1234, groupid: '1234', duration: 30 });
  assert.equal(res.status, 200, await res.clone().text());
  const { token } = await res.json();
  assert.equal(token.split('.').length, 3);
  assert.equal((await authorize({ ...loginKeyParams(), partnerid: 1234, groupid: '1234', duration: 121 })).status, 400, 'at most 120 minutes');
  assert.equal((await authorize({ username: 'agnes', password: 'wrong', groupid: '1234' })).status, 401);
  assert.equal((await authorize({ username: 'agnes', password: 'agnes-pass', groupid: '1234' }, { origin: 'http://evil.example' })).status, 403);
  const vid = visitorId();
  await presenceVisitor(s, vid);
  const lookup = (t, group = '1234', headers = {}) => fetch(new URL(`/lookupvisitor?groupid=${group}&visitorid=${vid}`, base),
    { headers: { authorization: 'Bearer ' + t, ...headers } });
  let ok;
  for (let i = 0; i < 40; i++) { ok = await lookup(token); if (ok.status === 200) break; await sleep(100); }
  assert.equal(ok.status, 200, 'the genuine token works');
  const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
  assert.equal((await lookup(forged)).status, 401, 'forged signature');
  assert.equal((await lookup(resign(token, { exp: Math.floor(Date.now() / 1000) - 10 }))).status, 401, 'expired');
  assert.equal((await lookup(resign(token, { groupid: '2468' }))).status, 401, 'another group in the token');
  assert.equal((await lookup(resign(token, {}, 'not-the-secret-at-all'))).status, 401, 'signed with another key');
  assert.equal((await lookup('')).status, 401, 'no token');
  const other = await (await authorize({ ...loginKeyParams(), partnerid: 1234, groupid: '2468' })).json();
  assert.equal((await lookup(other.token)).status, 401, 'a token of group 2468 for group 1234');
  assert.equal((await lookup(token, '1234', { origin: 'http://evil.example' })).status, 403, 'foreign origin');
  // Disallowed functions over REST: refused before reaching the visitor.
  const signal = (body) => fetch(new URL(`/signalvisitor?groupid=1234&visitorid=${vid}`, base),
    { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal((await signal({ mtype: 'invoke', data: { func: 'GLANCE.Cobrowse.Visitor.crossDomain' } })).status, 403);
  assert.equal((await signal({ mtype: 'invoke', data: { func: 'window.alert' } })).status, 403);
  assert.equal((await signal({ mtype: 'signal', data: { hello: 1 } })).status, 200);
  // The agent socket refuses a forged token: onerror connfail/authorization.
  const c = await console_(s);
  await c.evaluate((t) => { GLANCE.Authorization.setToken(t, '1234'); }, forged);
  await c.evaluate((id) => { window.__pa = window.watchVisitor(id); }, vid);
  const err = await waitLog(c, 'pa:error');
  assert.deepEqual(err, { error: 'connfail', detail: 'authorization' });
});

it('presence with a unique id: the visitor reads out six digits, the agent watches and signals it', async (s) => {
  const v = await s.openVisitor('/test-pages/tagged.html?presence=api');
  await v.waitForFunction(() => window.GLANCE.Presence && window.GLANCE.Presence.Visitor, null, { polling: 50 });
  const unique = await v.evaluate(() => new Promise((resolve, reject) => {
    const pv = new GLANCE.Presence.Visitor({});
    pv.onunique = resolve;
    pv.onerror = (e) => reject(new Error(JSON.stringify(e)));
    pv.onsignal = (d) => window.__signals.push(d);
    pv.connectUnique();
  }));
  assert.match(unique.uniqueid, /^\d{6}$/);
  assert.ok(unique.expires * 1000 > Date.now() + 4 * 60 * 1000, 'valid about 5 minutes');
  const c = await console_(s);
  await c.evaluate((p) => GLANCE.Authorization.authorize({ credentials: p, groupid: '1234' }), loginKeyParams());
  await c.evaluate((u) => { window.__pa = window.watchVisitor(null, u); }, unique.uniqueid);
  await waitLog(c, 'pa:visitorconn', (d) => d.connected === true);
  const sig = await c.evaluate(() => new Promise((resolve) => window.__pa.signalVisitor({ data: { hi: 1 }, onsuccess: () => resolve('ok'), onfail: resolve })));
  assert.equal(sig, 'ok');
  await v.waitForFunction(() => window.__signals.length === 1, null, { polling: 50 });
  assert.deepEqual(await v.evaluate(() => window.__signals), [{ hi: 1 }]);
});
