// Session state and messages: statereceived + getSessionState after a navigation, user state the
// agent reads, session messages both ways (visitor API <-> agent viewer's window.glanceViewer), and
// non-object payloads refused clearly.
// Run: node --test tests/e2e/state.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { events, start, waitEvent, ready, visitor } from './events.mjs';

const it = suite();

async function open(s, query = '') {
  await s.openVisitor(`/test-pages/tagged.html${query ? '?' + query : ''}`, { waitForGlance: false });
  await ready(s.visitor);
  return s.visitor;
}

/** Records session messages `name` on the visitor page into window.__messages. */
async function listenVisitor(page, name) {
  await page.evaluate((n) => window.GLANCE.Cobrowse.Visitor.addSessionMessageListener(n,
    (msgName, msg) => window.__messages.push([msgName, msg])), name);
}

async function waitFor(page, fn, arg, timeout = 10000) {
  await page.waitForFunction(fn, arg, { timeout, polling: 50 });
}

it('statereceived after a navigation; getSessionState() returns the server state, user state included', async (s) => {
  const v = await open(s);
  const key = await start(v);
  const first = await waitEvent(v, 'statereceived');
  assert.equal(first.sessionKey, key);
  await visitor(v, 'setUserState', 'step', 'cart');
  await visitor(v, 'setUserState', 'basket', { items: 3, total: 42.5 });
  assert.deepEqual(await visitor(v, 'getUserState', 'basket'), { items: 3, total: 42.5 });
  // The server has it before the page unloads (it was sent while live).
  await sleep(200);
  await open(s);
  const names = (await events(s.visitor)).map(([n]) => n);
  const st = await waitEvent(s.visitor, 'statereceived');
  assert.ok(names.indexOf('sessioncontinue') < (await events(s.visitor)).findIndex(([n]) => n === 'statereceived'),
    'statereceived follows sessioncontinue');
  const state = await visitor(s.visitor, 'getSessionState');
  assert.equal(state.sessionKey, key);
  assert.equal(state.connected, true);
  assert.equal(state.paused, false);
  assert.deepEqual(state.agents, { count: 0, agentlist: [] });
  assert.deepEqual(state.userstate, { step: 'cart', basket: { items: 3, total: 42.5 } });
  assert.deepEqual(st.userstate, state.userstate, 'the event carries the same state');
  assert.equal(await visitor(s.visitor, 'getUserState', 'step'), 'cart');
  assert.equal(await visitor(s.visitor, 'getUserState', 'nothing'), undefined);
});

it('setUserState: the agent side reads it with getUserState, also when it joins later', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await visitor(v, 'setUserState', 'account', { id: 'A-17', tier: 'gold' });
  await s.openAgent(key);
  await waitFor(s.agent, () => window.glanceViewer.getUserState('account') !== undefined);
  assert.deepEqual(await s.agent.evaluate(() => window.glanceViewer.getUserState('account')), { id: 'A-17', tier: 'gold' });
  // Live updates and removal.
  await visitor(v, 'setUserState', 'step', 3);
  await waitFor(s.agent, () => window.glanceViewer.getUserState('step') === 3);
  await visitor(v, 'setUserState', 'account', null);
  await waitFor(s.agent, () => window.glanceViewer.getUserState('account') === undefined);
});

it('session messages both ways: visitor sendSessionMessage <-> agent addSessionMessageListener, and back', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  await s.agent.evaluate(() => {
    window.__got = [];
    window.glanceViewer.addSessionMessageListener('toAgent', (name, msg) => window.__got.push([name, msg]));
  });
  await visitor(v, 'sendSessionMessage', 'toAgent', { foo: 123, list: ['a'] });
  await waitFor(s.agent, () => window.__got.length === 1);
  assert.deepEqual(await s.agent.evaluate(() => window.__got), [['toAgent', { foo: 123, list: ['a'] }]]);
  await listenVisitor(v, 'toVisitor');
  const sent = await s.agent.evaluate(() => window.glanceViewer.sendSessionMessage('toVisitor', { hello: 'visitor' }));
  assert.equal(sent, true);
  await waitFor(v, () => window.__messages.length === 1);
  assert.deepEqual(await v.evaluate(() => window.__messages), [['toVisitor', { hello: 'visitor' }]]);
  // A listener for another name is not called; a throwing listener does not stop the others.
  await v.evaluate(() => {
    window.GLANCE.Cobrowse.Visitor.addSessionMessageListener('boom', () => { throw new Error('listener bug'); });
    window.GLANCE.Cobrowse.Visitor.addSessionMessageListener('boom', (n, m) => window.__messages.push([n, m]));
  });
  await s.agent.evaluate(() => window.glanceViewer.sendSessionMessage('boom', { n: 2 }));
  await waitFor(v, () => window.__messages.length === 2);
  assert.deepEqual((await v.evaluate(() => window.__messages))[1], ['boom', { n: 2 }]);
  assert.equal(s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror').length, 0);
});

it('non-object payloads are refused clearly on both sides, and nothing is sent', async (s) => {
  const v = await open(s);
  const key = await start(v);
  await s.openAgent(key);
  for (const [payload, kind] of [[42, 'a number'], ['text', 'a string'], [[1, 2], 'an array'], [null, 'null'],
    [undefined, 'undefined']]) {
    await v.evaluate((p) => window.GLANCE.Cobrowse.Visitor.sendSessionMessage('bad', p), payload);
    const err = await waitEvent(v, 'error', (e) => e.code === 'badparams' && e.msg.includes(kind));
    assert.match(err.msg, /sendSessionMessage\("bad"\): the message must be an object/);
  }
  await v.evaluate(() => { const o = {}; o.self = o; window.GLANCE.Cobrowse.Visitor.sendSessionMessage('cyclic', o); });
  await waitEvent(v, 'error', (e) => e.code === 'badparams' && /cyclic/.test(e.msg));
  await sleep(200);
  assert.equal(s.messages({ side: 'visitor', dir: 'sent', t: 'msg' }).length, 0, 'no message frame sent');
  const thrown = await s.agent.evaluate(() => {
    try { window.glanceViewer.sendSessionMessage('bad', 'text'); return null; } catch (e) { return e.message; }
  });
  assert.match(thrown, /msg must be an object/);
  // Outside a session: a clear error too.
  await visitor(v, 'stopSession');
  await visitor(v, 'sendSessionMessage', 'late', { a: 1 });
  await waitEvent(v, 'error', (e) => /not in a session/.test(e.msg));
  assert.equal(s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror').length, 0);
});
