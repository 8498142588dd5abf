// How a session ends: stopSession() (leavesession + sessionend 'visitor'), the agent ending it
// ('agent'), and the server telling a page of a session that already ended. Every end cleans up:
// storage, the MutationObserver and listeners (nothing is sent afterwards), the data-gid attributes.
// Run: node --test tests/e2e/lifecycle.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { eventNames, start, waitEvent, ready, visitor } from './events.mjs';

const it = suite();

async function open(s, query = 'cookietype=dual') {
  await s.openVisitor(`/test-pages/tagged.html?${query}`, { waitForGlance: false });
  await ready(s.visitor);
  return s.visitor;
}

const gidCount = (page) => page.evaluate(() => document.querySelectorAll('[data-gid]').length);

/** After an end: nothing stored, no data-gid, and page changes and input send nothing. */
async function cleanedUp(s, page) {
  assert.equal(await visitor(page, 'inSession'), false);
  assert.equal(await visitor(page, 'getSessionState'), null);
  assert.equal(await gidCount(page), 0, 'data-gid attributes removed');
  const stored = await page.evaluate(() => [document.cookie, localStorage.getItem('glance_ssn_info')]);
  assert.ok(!/glance_ssn_info=/.test(stored[0]) && stored[1] === null, `storage cleared: ${stored}`);
  const before = s.frames.filter((f) => f.side === 'visitor' && f.dir === 'sent').length;
  await page.evaluate(() => {
    document.getElementById('title').textContent = 'changed after the end';
    document.body.appendChild(document.createElement('p')).textContent = 'new paragraph';
    window.scrollTo(0, 50);
  });
  await page.type('#field', 'typed');
  await sleep(400);
  assert.equal(s.frames.filter((f) => f.side === 'visitor' && f.dir === 'sent').length, before, 'nothing sent after the end');
  assert.equal(await gidCount(page), 0, 'no new data-gid either');
}

it('stopSession(): leavesession then sessionend visitor; storage, observers, listeners, data-gid cleaned up', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await s.mirrorMatches();
  assert.ok(await gidCount(v) > 0, 'the page was tagged');
  await visitor(v, 'stopSession');
  const end = await waitEvent(v, 'sessionend');
  assert.equal(end.reason, 'visitor');
  const names = await eventNames(v);
  assert.ok(names.indexOf('leavesession') >= 0 && names.indexOf('leavesession') < names.indexOf('sessionend'),
    `leavesession before sessionend: ${names}`);
  await s.waitAgentState('ended');
  await cleanedUp(s, v);
  // A new session on the same page tags it afresh and mirrors it.
  const key2 = await start(v);
  assert.notEqual(key2, key);
  s.agent = null;
  await s.openAgent(key2);
  await s.mirrorMatches();
});

it('the agent ending the session: sessionend agent (no leavesession), everything cleaned up', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await s.mirrorMatches();
  await s.agent.click('#glance-end');
  const end = await waitEvent(v, 'sessionend');
  assert.equal(end.reason, 'agent');
  assert.ok(!(await eventNames(v)).includes('leavesession'), 'the visitor did not leave');
  await cleanedUp(s, v);
});

it('a page of a session the server already ended is told so: sessionend, no new session', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await waitEvent(v, 'statereceived');
  const stored = await v.evaluate(() => localStorage.getItem('glance_ssn_info'));
  await s.openAgent(key);
  await s.agent.click('#glance-end');
  await waitEvent(v, 'sessionend', (e) => e.reason === 'agent');
  // A stale copy of the session (another tab that missed the end, a restored backup...).
  await v.evaluate((x) => localStorage.setItem('glance_ssn_info', x), stored);
  await open(s);
  const end = await waitEvent(s.visitor, 'sessionend');
  assert.equal(end.reason, 'agent', 'the reason the server remembers');
  assert.ok(!(await eventNames(s.visitor)).includes('sessionstart'), 'no new session');
  const info = await it.harness().server.sessionInfo(key);
  assert.equal(info.status, 404, 'the session stays ended');
  await cleanedUp(s, s.visitor);
});
