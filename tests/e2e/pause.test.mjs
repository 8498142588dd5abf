// Pause: data-startpaused="1", the visitor API and the agent pausing and resuming; while paused
// nothing of the page is sent and the agent sees a paused view; the pause follows navigation.
// Run: node --test tests/e2e/pause.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { events, start, waitEvent, waitCount, ready, visitor } from './events.mjs';

const it = suite();

async function open(s, query = '') {
  await s.openVisitor(`/test-pages/tagged.html${query ? '?' + query : ''}`, { waitForGlance: false });
  await ready(s.visitor);
  return s.visitor;
}

const pageFrames = (s) => s.messages({ side: 'visitor', dir: 'sent' }).filter((m) => m.msg && (m.msg.t === 'snap' || m.msg.t === 'diff'));

/** The agent shows the paused view: state paused, the mirror hidden. */
async function pausedView(s) {
  await s.waitAgentState('paused');
  const hidden = await s.agent.evaluate(() => getComputedStyle(document.getElementById('glance-mirror')).visibility);
  assert.equal(hidden, 'hidden', 'the mirror is not shown while paused');
}

it('data-startpaused="1": the session starts paused, nothing is sent, the agent sees a paused view; resume streams', async (s) => {
  const v = await open(s, 'startpaused=1');
  const key = await start(v);
  assert.deepEqual(await waitEvent(v, 'sessionpaused'), { paused: true });
  assert.equal((await visitor(v, 'getSessionState')).paused, true);
  await s.openAgent(key, { waitActive: false });
  await pausedView(s);
  await v.evaluate(() => { document.getElementById('text').textContent = 'secret-while-paused-5521'; });
  await sleep(500);
  assert.equal(pageFrames(s).length, 0, 'no snapshot or diff while paused');
  assert.equal(s.framesContaining('secret-while-paused-5521').length, 0);
  assert.equal((await s.viewerInfo()).snapshots, 0);
  await visitor(v, 'pause', false);
  await waitEvent(v, 'sessionpaused', (e) => e.paused === false);
  await s.waitAgentState('active');
  await s.mirrorMatches();
});

it('visitor pause(true) mid-session: page changes are not sent; resume sends a fresh snapshot', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await s.mirrorMatches();
  await visitor(v, 'pause', true);
  await waitEvent(v, 'sessionpaused', (e) => e.paused === true);
  await pausedView(s);
  const before = pageFrames(s).length;
  await v.evaluate(() => { document.getElementById('title').textContent = 'private-while-paused-0931'; });
  await v.type('#field', 'typed-while-paused');
  await sleep(500);
  assert.equal(pageFrames(s).length, before, 'nothing of the page sent while paused');
  assert.equal(s.framesContaining('private-while-paused-0931').length, 0);
  await visitor(v, 'pause', false);
  await s.waitAgentState('active');
  await s.mirrorMatches();
  assert.ok(s.messages({ side: 'visitor', dir: 'sent', t: 'snap' }).length >= 2, 'a fresh snapshot after resuming');
});

it('the agent pauses and resumes: the visitor gets sessionpaused both ways and stops sending meanwhile', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await s.mirrorMatches();
  await s.agent.click('#glance-pause');
  assert.deepEqual(await waitEvent(v, 'sessionpaused'), { paused: true });
  assert.equal((await visitor(v, 'getSessionState')).paused, true);
  await pausedView(s);
  const before = pageFrames(s).length;
  await v.evaluate(() => { document.getElementById('title').textContent = 'agent-paused-7710'; });
  await sleep(500);
  assert.equal(pageFrames(s).length, before);
  assert.equal(await s.agent.textContent('#glance-pause'), 'Resume');
  assert.equal(await s.agent.evaluate(() => window.glanceViewer.pause(false)), true);
  await waitEvent(v, 'sessionpaused', (e) => e.paused === false);
  await s.waitAgentState('active');
  await s.mirrorMatches();
});

it('the pause follows the visitor to the next page', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await visitor(v, 'pause', true);
  await pausedView(s);
  const snaps = s.messages({ side: 'visitor', dir: 'sent', t: 'snap' }).length;
  await open(s);
  await waitEvent(s.visitor, 'sessioncontinue', (e) => e.sessionKey === key);
  assert.deepEqual(await waitEvent(s.visitor, 'sessionpaused'), { paused: true });
  await sleep(500);
  assert.equal(s.messages({ side: 'visitor', dir: 'sent', t: 'snap' }).length, snaps, 'the new page sends nothing');
  await pausedView(s);
  await visitor(s.visitor, 'pause', false);
  await s.waitAgentState('active');
  await s.mirrorMatches();
});
