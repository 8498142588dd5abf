// Tabs: a second tab of the site joins the session and takes it over (blur / focus, the agent
// sees the active tab), a click brings it back, ending in one tab ends it in all, two tabs starting
// at once end up in one session, tabs opened before the session join it, storage events stand in
// for BroadcastChannel, and a key live elsewhere in the group gives `dupkey`.
// Run: node --test tests/e2e/tabs.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { eventNames, events, start, waitEvent, waitCount, ready, visitor } from './events.mjs';

const it = suite();

/** A new tab of the visitor's browser on tagged.html, with its heading set to `label`. */
async function tab(s, label, query = '') {
  const p = await s.visitorContext.newPage();
  s._watch(p, 'visitor');
  await p.goto(it.harness().url(`/test-pages/tagged.html${query ? '?' + query : ''}`), { waitUntil: 'load' });
  await ready(p);
  await p.evaluate((l) => { document.getElementById('title').textContent = l; }, label);
  return p;
}

const state = (p) => visitor(p, 'getSessionState');
const openedLines = () => it.harness().server.log.filter((l) => /visitor opened session/.test(l));

it('a second tab joins the session and takes it over; a click in the first brings it back', async (s) => {
  const a = await tab(s, 'Tab A');
  const key = await start(a);
  await s.openAgent(key);
  await s.mirrorMatches({ visitor: a });
  const b = await tab(s, 'Tab B');
  assert.equal((await waitEvent(b, 'sessioncontinue')).sessionKey, key, 'the same session');
  await waitEvent(b, 'focus');
  await waitEvent(a, 'blur');
  assert.ok(!(await eventNames(b)).includes('sessionstart'));
  await s.mirrorMatches({ visitor: b });
  assert.equal((await state(b)).connected, true);
  const sa = await state(a);
  assert.equal(sa.sessionKey, key);
  assert.equal(sa.connected, false, 'the inactive tab has no connection');
  assert.equal(await visitor(a, 'inSession'), true);
  // Changes in the inactive tab are not streamed.
  await a.evaluate(() => { document.getElementById('text').textContent = 'inactive-tab-change-3310'; });
  await sleep(400);
  assert.equal(s.framesContaining('inactive-tab-change-3310').length, 0);
  // The visitor clicks in tab A: it becomes the active tab again.
  await a.bringToFront();
  await a.click('#text');
  await waitCount(a, 'focus', 1);
  await waitEvent(b, 'blur');
  await s.mirrorMatches({ visitor: a });
  assert.equal((await state(a)).connected, true);
  assert.equal((await state(b)).connected, false);
  assert.equal(openedLines().filter((l) => l.includes(`/${key} `)).length, 1, 'one session on the server');
});

it('ending the session in one tab ends it in every tab (from the active and from an inactive tab)', async (s) => {
  const a = await tab(s, 'Tab A');
  const key = await start(a);
  const b = await tab(s, 'Tab B');
  await waitEvent(b, 'focus');
  await s.openAgent(key);
  // From the active tab B.
  await visitor(b, 'stopSession');
  assert.equal((await waitEvent(a, 'sessionend')).reason, 'visitor');
  assert.equal((await waitEvent(b, 'sessionend')).reason, 'visitor');
  assert.ok((await eventNames(b)).includes('leavesession'));
  assert.ok(!(await eventNames(a)).includes('leavesession'), 'leavesession only where the visitor left');
  assert.equal(await visitor(a, 'inSession'), false);
  await s.waitAgentState('ended');
  // From the inactive tab: the active tab tells the server.
  const key2 = await start(a);
  await waitEvent(b, 'sessioncontinue', (e) => e.sessionKey === key2);
  await b.click('#text');
  await waitEvent(b, 'focus');
  await waitEvent(a, 'blur');
  s.agent = null;
  await s.openAgent(key2);
  await visitor(a, 'stopSession');
  await waitEvent(b, 'sessionend', (e) => e.reason === 'visitor');
  await s.waitAgentState('ended');
  assert.equal((await it.harness().server.sessionInfo(key2)).status, 404);
});

it('two tabs starting a session at once end up in exactly one session', async (s) => {
  const a = await tab(s, 'Tab A');
  const b = await tab(s, 'Tab B');
  const before = openedLines().length;
  const [ka, kb] = await Promise.all([start(a), start(b)]);
  assert.equal(ka, kb, 'both tabs got the same session');
  await sleep(500);
  assert.equal(openedLines().length - before, 1, `one session opened on the server: ${openedLines().slice(before)}`);
  const live = [(await state(a)).connected, (await state(b)).connected].filter(Boolean).length;
  assert.equal(live, 1, 'one tab streams');
  await s.openAgent(ka);
  await visitor(a, 'stopSession');
  await waitEvent(b, 'sessionend');
});

it('a tab opened before the session joins it when it starts elsewhere', async (s) => {
  const a = await tab(s, 'Tab A');
  const b = await tab(s, 'Tab B');
  await b.bringToFront();
  const key = await start(b);
  assert.equal((await waitEvent(a, 'sessioncontinue')).sessionKey, key);
  assert.equal((await state(a)).connected, false);
  await s.openAgent(key);
  await s.mirrorMatches({ visitor: b });
  await a.bringToFront();
  await a.click('#text');
  await waitEvent(a, 'focus');
  await s.mirrorMatches({ visitor: a });
});

it('without BroadcastChannel, storage events end the session in the other tabs (cookietype=ls)', async (s) => {
  await s.visitorContext.addInitScript(() => { delete window.BroadcastChannel; });
  const a = await tab(s, 'Tab A', 'cookietype=ls');
  const key = await start(a);
  const b = await tab(s, 'Tab B', 'cookietype=ls');
  assert.equal((await waitEvent(b, 'sessioncontinue')).sessionKey, key);
  await visitor(b, 'stopSession');
  assert.equal((await waitEvent(a, 'sessionend')).reason, 'visitor');
  assert.equal(await visitor(a, 'inSession'), false);
});

it('a session key already live in the group gives error dupkey (the group forbids duplicates)', async (s) => {
  const a = await tab(s, 'Tab A');
  const key = await start(a, { sessionKey: 'DUP-KEY-42' });
  assert.equal(key, 'DUP-KEY-42');
  // Another browser (its own storage) asks for the same key.
  const other = await it.harness().browser.newContext();
  try {
    const p = await other.newPage();
    s._watch(p, 'visitor');
    await p.goto(it.harness().url('/test-pages/tagged.html'), { waitUntil: 'load' });
    await ready(p);
    await p.evaluate(() => window.GLANCE.Cobrowse.Visitor.startSession('DUP-KEY-42'));
    const err = await waitEvent(p, 'error', (e) => e.code === 'dupkey');
    assert.match(err.msg, /DUP-KEY-42/);
    await sleep(300);
    assert.equal(await visitor(p, 'inSession'), false);
    assert.ok(!(await eventNames(p)).includes('sessionstart'));
  } finally {
    await other.close();
  }
  assert.equal(await visitor(a, 'inSession'), true, 'the first session is unaffected');
  assert.equal((await it.harness().server.sessionInfo(key)).status, 200);
});
