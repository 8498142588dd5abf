// Session lifecycle end to end: fail-closed masking, the `agents` event, who ends a session.
// Run: node --test tests/e2e/session.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';

const it = suite();

/** Records every visitor event on the page into window.__events. */
async function recordEvents(page) {
  await page.evaluate(() => {
    window.__events = [];
    const V = window.GLANCE.Cobrowse.Visitor;
    for (const n of ['sessionstarting', 'sessionstart', 'sessioncontinue', 'sessionend', 'error',
      'agents', 'connection', 'sessionpaused']) {
      V.addEventListener(n, (e) => window.__events.push([n, JSON.parse(JSON.stringify(e ?? null))]));
    }
  });
}

async function waitEvent(page, name, pred = () => true, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    const evs = await page.evaluate(() => window.__events);
    const hit = evs.find(([n, e]) => n === name && pred(e));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} event; got ${JSON.stringify(evs)}`);
    await sleep(50);
  }
}

it('an invalid mask selector fails closed: maskingerror names it and no page content is sent', async (s) => {
  const v = await s.openVisitor('/test-pages/bad-mask.html');
  await recordEvents(v);
  await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.startSession());
  const err = await waitEvent(v, 'error', (e) => e.code === 'maskingerror');
  assert.match(err.msg, /div\[\[broken/, 'the message names the bad selector');
  await waitEvent(v, 'sessionend', (e) => e.reason === 'error');
  await sleep(300);
  assert.equal(s.messages({ side: 'visitor', dir: 'sent', t: 'snap' }).length, 0, 'no snapshot sent');
  assert.equal(s.framesContaining('visible-only-to-the-visitor-9182').length, 0, 'no page text on the wire');
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
});

it('agents event when an agent joins; the agent ending the session ends it for the visitor', async (s) => {
  const v = await s.openVisitor('/demo/index.html');
  await recordEvents(v);
  const key = await s.startSession();
  const start = await waitEvent(v, 'sessionstart');
  assert.equal(start.sessionKey, key);
  await waitEvent(v, 'sessioncontinue', (e) => e.sessionKey === key);
  await s.openAgent(key);
  const agents = await waitEvent(v, 'agents', (e) => e.count === 1);
  assert.equal(agents.agentlist.length, 1);
  assert.equal(agents.agentlist[0].role, 'agent');
  await s.agent.click('text=End session');
  const end = await waitEvent(v, 'sessionend');
  assert.equal(end.reason, 'agent');
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.getSessionState()), null);
  // The session cookie is gone: a reload does not continue it.
  await s.openVisitor('/demo/index.html');
  await recordEvents(s.visitor);
  await sleep(500);
  assert.equal(await s.visitor.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
});

it('the visitor stopping the session ends it for the agent', async (s) => {
  const v = await s.openVisitor('/demo/index.html');
  await recordEvents(v);
  const key = await s.startSession();
  await s.openAgent(key);
  await s.mirrorMatches();
  await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.stopSession());
  const end = await waitEvent(v, 'sessionend');
  assert.equal(end.reason, 'visitor');
  await s.waitAgentState('ended');
});

it('a CSP without wasm-unsafe-eval: SCRIPT_NOT_LOADED with params.script, and the page keeps working', async (s) => {
  const v = await s.openVisitor('/test-pages/csp-no-wasm.html', { waitForGlance: false });
  await v.waitForFunction(() => window.__errors && window.__errors.length > 0, null, { timeout: 10000 });
  const err = await v.evaluate(() => window.__errors[0]);
  assert.equal(err.code, 'SCRIPT_NOT_LOADED');
  assert.match(err.params.script, /glance_cobrowse/, 'names the file that failed');
  await v.click('#bump');
  assert.equal(await v.textContent('#count'), '1');
  assert.equal(s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror').length, 0, 'no exception reached the page');
  // Calls after the failure are harmless.
  assert.equal(await v.evaluate(() => { window.GLANCE.Cobrowse.Visitor.startSession(); return window.GLANCE.Cobrowse.Visitor.inSession(); }), false);
});

it('large messages travel gzip-compressed (CompressionStream) and still reach the agent intact', async (s) => {
  await s.openVisitor('/demo/products.html');
  const key = await s.startSession();
  await s.openAgent(key);
  await s.mirrorMatches();
  const snap = s.frames.find((f) => f.side === 'visitor' && f.dir === 'sent' && /"t":"snap"/.test(f.text));
  assert.ok(snap, 'snapshot frame captured');
  assert.equal(snap.binary, true, 'the snapshot went as a binary (gzip) frame');
  assert.ok(snap.bytes < Buffer.byteLength(snap.text) / 2, `compressed ${snap.bytes} B vs ${Buffer.byteLength(snap.text)} B`);
  const small = s.frames.find((f) => f.side === 'visitor' && f.dir === 'sent' && /"t":"hello"/.test(f.text));
  assert.equal(small.binary, false, 'small frames stay text');
});

it('a loader inserted after page load works: session, mirror, and sessioncontinue on the next page', async (s) => {
  const v = await s.openVisitor('/test-pages/late-tag.html', { waitForGlance: false });
  await v.waitForFunction(() => window.GLANCE && window.GLANCE.Cobrowse && window.GLANCE.Cobrowse.Loader, null, { timeout: 10000 });
  await v.evaluate(() => window.GLANCE.Cobrowse.Loader.ready);
  const key = await s.startSession();
  await s.openAgent(key);
  await s.mirrorMatches();
  // The next (tagged) page continues the session and says so (its listeners exist from the start).
  await s.openVisitor('/test-pages/continue.html');
  const cont = await waitEvent(s.visitor, 'sessioncontinue');
  assert.equal(cont.sessionKey, key, 'sessioncontinue with the same key on the next page');
  const names = (await s.visitor.evaluate(() => window.__events)).map(([n]) => n);
  assert.ok(!names.includes('sessionstart') && !names.includes('sessionstarting'), `a continuation, not a new session: ${names}`);
  await s.mirrorMatches();
});

it('viewport changes reach the agent', async (s) => {
  await s.openVisitor('/demo/index.html');
  const key = await s.startSession();
  await s.openAgent(key);
  await s.mirrorMatches();
  await s.visitor.setViewportSize({ width: 700, height: 500 });
  await s.agent.waitForFunction(() => window.glanceViewer && window.glanceViewer.vw === 700 && window.glanceViewer.vh === 500,
    null, { timeout: 10000 });
  await s.mirrorMatches();
});
