// The agent side end to end: the browser agent SDK (GLANCE.Agent) looks a session up and opens the
// viewer; remote control of a real React form; refusals; navigation with confirm; gestures; the
// embedding API (GLANCE.Cobrowse.Agent) with session messages.
// Run: node --test tests/e2e/agent.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import path from 'node:path';
import { AGENTS, E2E_DIR, loginKeyParams, sleep } from './harness.mjs';
import { events, start, visitor, waitCount, waitEvent } from './events.mjs';
import { suite } from './suite.mjs';

const it = suite();

const REACT = path.join(E2E_DIR, 'node_modules', 'react', 'umd', 'react.production.min.js');
const REACT_DOM = path.join(E2E_DIR, 'node_modules', 'react-dom', 'umd', 'react-dom.production.min.js');

/** The visitor's React form (React 18 served from tests/e2e/node_modules), session started. */
async function reactVisitor(s, params = {}) {
  await s.visitorContext.route('**/test-pages/vendor/*.js', (route) => route.fulfill({
    path: route.request().url().includes('react-dom') ? REACT_DOM : REACT,
    contentType: 'text/javascript',
  }));
  const v = await s.openVisitor('/test-pages/rc-form.html');
  await v.waitForFunction(() => window.__state !== undefined);
  const key = await start(v, params);
  s.key = key;
  return { v, key };
}

/** Polls `fn` in `page` until it returns a truthy value; returns it. */
async function until(page, fn, arg, what, timeout = 10000) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout, polling: 50 });
    return h.jsonValue();
  } catch (e) {
    throw new Error(`${what} did not happen within ${timeout} ms`);
  }
}

const agentEvents = (page) => page.evaluate(() => window.__agentEvents);
async function waitAgentEvent(page, name, pred = () => true, timeout = 15000) {
  const t0 = Date.now();
  for (;;) {
    const hit = (await agentEvents(page)).find(([n, d]) => n === name && pred(d));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} agent event; got ${JSON.stringify(await agentEvents(page))}`);
    await sleep(50);
  }
}

const embedEvents = (page) => page.evaluate(() => window.__embedEvents);
async function waitEmbedEvent(page, name, pred = () => true, timeout = 15000) {
  const t0 = Date.now();
  for (;;) {
    const hit = (await embedEvents(page)).find(([n, d]) => n === name && pred(d));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} embed event; got ${JSON.stringify(await embedEvents(page))}`);
    await sleep(50);
  }
}

/** The element a `rcevent` path names on the visitor page (its id). */
const idAt = (v, p) => v.evaluate((sel) => document.querySelector(sel)?.id ?? null, p);

const AGNES = { username: 'agnes', puid: 'agnes@example.com', num: 1 };

it('GLANCE.Agent: lookupSession waits for the session, joinSession opens the viewer, the visitor sees who joined', async (s) => {
  const crm = await s.agentContext.newPage();
  s._watch(crm, 'crm');
  await crm.goto(it.harness().url('/test-pages/agent-crm.html'));
  const key = String(7000 + Math.floor(Math.random() * 999));
  // Not authenticated: the lookup fails with a reason.
  const unauth = await crm.evaluate((k) => GLANCE.Agent.lookupSession(k, false).then(() => 'resolved', (e) => String(e && e.message || e)), key);
  assert.notEqual(unauth, 'resolved', 'an unauthenticated lookup is refused');
  await waitAgentEvent(crm, 'lookupFailed', (d) => d.ssnkey === key && d.service === 'agent');
  await crm.evaluate((p) => GLANCE.Agent.authenticate(p), loginKeyParams());
  // wait=false: one attempt, nothing found -> {}.
  assert.deepEqual(await crm.evaluate((k) => GLANCE.Agent.lookupSession(k, false), key), {});
  // wait=true before the visitor has started: lookupWaiting with a cancel function.
  await crm.evaluate((k) => {
    window.__found = null;
    GLANCE.Agent.lookupSession(k).then((r) => { window.__found = r; }, (e) => { window.__found = { error: String(e) }; });
  }, key);
  const waiting = await waitAgentEvent(crm, 'lookupWaiting', (d) => d.ssnkey === key);
  assert.equal(waiting.service, 'agent');
  assert.equal(waiting.cancel, 'function');
  const { v } = await reactVisitor(s, { sessionKey: key });
  const found = await until(crm, () => window.__found, null, 'lookupFound');
  assert.ok(!found.error, JSON.stringify(found));
  assert.equal(found.groupid, '1234');
  assert.match(found.agentjoinurl, /\/agentjoin\/AgentView\.aspx\?.*SessionKey=\d+.*ticket=/);
  for (const k of ['id', 'ssnid', 'serverip', 'servername', 'personid', 'passcode', 'clientjoinurl', 'visitorversion']) {
    assert.ok(k in found, `lookupFound has ${k}`);
  }
  const ev = await waitAgentEvent(crm, 'lookupFound');
  assert.equal(ev.agentjoinurl, found.agentjoinurl);
  // The viewer window opened from the join URL authenticates with the ticket.
  const [popup] = await Promise.all([
    s.agentContext.waitForEvent('page'),
    crm.evaluate((u) => GLANCE.Agent.openAgentJoinURL(u).then(() => true), found.agentjoinurl),
  ]);
  s.agent = popup;
  s._watch(popup, 'agent');
  await s.waitAgentState('active');
  await s.mirrorMatches({ visitor: v });
  await waitAgentEvent(crm, 'viewerOpened');
  const connected = await waitAgentEvent(crm, 'connected');
  assert.deepEqual({ ssnkey: connected.ssnkey, groupid: connected.groupid, service: connected.service },
    { ssnkey: key, groupid: '1234', service: 'cobrowse' });
  assert.equal(await crm.evaluate((k) => GLANCE.Agent.inSession(k), key), true);
  // The visitor's `agents` event names the agent.
  const agents = await waitEvent(v, 'agents', (e) => e.count === 1);
  assert.equal(agents.agentlist.length, 1);
  assert.equal(agents.agentlist[0].username, 'agnes');
  assert.equal(agents.agentlist[0].name, 'Agnes Agent');
  assert.equal(agents.agentlist[0].partneruserid, 'agnes@example.com');
  assert.equal(agents.agentlist[0].role, 'agent');
  assert.equal(agents.agentlist[0].num, 1);
  // The visitor ends the session: sessionEnded VisitorLeft.
  await visitor(v, 'stopSession');
  const ended = await waitAgentEvent(crm, 'sessionEnded');
  assert.equal(ended.reason, 'VisitorLeft');
  assert.equal(ended.ssnkey, key);
});

it('GLANCE.Agent: cancelLookup stops a waiting lookup with lookupCancelled', async (s) => {
  const crm = await s.agentContext.newPage();
  await crm.goto(it.harness().url('/test-pages/agent-crm.html'));
  await crm.evaluate((p) => GLANCE.Agent.authenticate(p), loginKeyParams());
  const outcome = await crm.evaluate(() => new Promise((resolve) => {
    GLANCE.Agent.lookupSession('88881').then(() => resolve('resolved'), () => resolve('rejected'));
    setTimeout(() => GLANCE.Agent.cancelLookup(), 300);
  }));
  assert.equal(outcome, 'rejected');
  await waitAgentEvent(crm, 'lookupCancelled', (d) => d.ssnkey === '88881' && d.service === 'agent');
});
