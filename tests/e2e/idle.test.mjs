// The idle timeout: a session with no agent for the server's --idle-timeout ends, for the visitor
// with sessionend {reason: 'timeout'} and a full cleanup; an agent being there stops the clock.
// Its own file: the short timeout would end other tests' sessions.
// Run: node --test tests/e2e/idle.test.mjs   (after `make build`)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { E2E, sleep } from './harness.mjs';
import { eventNames, start, waitEvent, ready, visitor } from './events.mjs';

const IDLE_S = 6;
let e2e;
before(async () => { e2e = await E2E.start({ extraArgs: ['--idle-timeout', String(IDLE_S)] }); });
after(async () => { await e2e?.stop(); });

test('no agent for the idle timeout: sessionend timeout and cleanup; an agent present keeps it alive', { timeout: 90000 }, async (t) => {
  await e2e.run(async (s) => {
    await s.openVisitor('/test-pages/tagged.html?cookietype=dual', { waitForGlance: false });
    const v = s.visitor;
    await ready(v);
    const key = await start(v);
    await s.openAgent(key);
    await s.mirrorMatches();
    await sleep(IDLE_S * 1000 + 1500);
    assert.equal(await visitor(v, 'inSession'), true, 'an agent is watching: not idle');
    await s.agent.click('#glance-leave');
    const t0 = Date.now();
    const end = await waitEvent(v, 'sessionend', () => true, 15000);
    assert.equal(end.reason, 'timeout');
    assert.ok(Date.now() - t0 >= (IDLE_S - 1) * 1000, 'not before the timeout');
    assert.ok(!(await eventNames(v)).includes('leavesession'));
    assert.equal(await visitor(v, 'inSession'), false);
    assert.equal(await v.evaluate(() => document.querySelectorAll('[data-gid]').length), 0);
    assert.equal(await v.evaluate(() => localStorage.getItem('glance_ssn_info')), null);
    assert.equal((await e2e.server.sessionInfo(key)).status, 404);
  })(t);
});
