// The default visitor UI (loader/glance-cobrowse-ui.js + skins/): shown on session start with the
// key, never in the agent's mirror nor in any frame; the terms dialog (focus, Escape, Accept);
// the end-session inline confirmation; data-ui="custom" loads nothing; a group skin and texts
// apply; a missing skin file is harmless; the language follows data-lang.
// Run: node --test tests/e2e/ui.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { suite } from './suite.mjs';
import { start, ready, waitEvent, eventNames } from './events.mjs';

const it = suite();

async function open(s, query = '') {
  const requests = [];
  s.visitorContext.on('request', (r) => requests.push(r.url()));
  await s.openVisitor(`/test-pages/tagged.html${query ? '?' + query : ''}`, { waitForGlance: false });
  await ready(s.visitor);
  return { v: s.visitor, requests };
}
const shadowActive = (v) => v.evaluate(() => {
  const h = document.querySelector('glance-cobrowse-ui');
  return document.activeElement === h ? h.shadowRoot.activeElement && h.shadowRoot.activeElement.id : 'page:' + (document.activeElement && document.activeElement.id);
});

it('session start shows the border, button and key box; none of it reaches the agent', async (s) => {
  const { v, requests } = await open(s);
  const layout = await v.evaluate(() => JSON.stringify(document.body.getBoundingClientRect()));
  assert.equal(await v.locator('glance-cobrowse-ui').count(), 0, 'nothing before it is needed');
  const key = await start(v);
  await v.locator('#glance_ssnkey').waitFor({ state: 'visible' });
  assert.equal(await v.locator('#glance_ssnkey').textContent(), key);
  assert.ok(await v.locator('#glance_border').isVisible());
  assert.equal(await v.locator('#glance_cobrowse_btn').getAttribute('aria-expanded'), 'true');
  assert.equal(await v.evaluate(() => JSON.stringify(document.body.getBoundingClientRect())), layout, 'no layout shift');
  assert.equal(await v.evaluate(() => document.querySelector('glance-cobrowse-ui').parentNode === document.documentElement), true);
  assert.ok(requests.some((u) => /\/cobrowse\/GlanceCobrowseUI\.js$/.test(u)));
  // The border never takes clicks: the page under it gets them.
  assert.equal(await v.evaluate(() => getComputedStyle(document.querySelector('glance-cobrowse-ui').shadowRoot.getElementById('glance_border')).pointerEvents), 'none');
  await s.openAgent(key);
  await s.mirrorMatches();
  const inMirror = await s.agent.evaluate(() => document.querySelector('#glance-mirror').contentDocument.querySelectorAll('glance-cobrowse-ui').length);
  assert.equal(inMirror, 0);
  // Collapsing and pausing change the UI only: no frame ever carries its texts.
  await v.click('#glance_cobrowse_btn');
  assert.equal(await v.locator('#glance_cobrowse_btn').getAttribute('aria-expanded'), 'false');
  assert.ok(await v.locator('#glance_ssnkey_box').isHidden());
  await v.click('#glance_cobrowse_btn');
  await sleep(300);
  assert.equal(s.framesContaining('glance_ssnkey').length, 0);
  assert.equal(s.framesContaining('Waiting for an agent').length, 0);
  assert.equal(s.framesContaining('glance-cobrowse-ui').length, 0);
  // End session: asked inline, No keeps it, Yes ends it.
  await v.click('#glance_stop');
  assert.equal(await shadowActive(v), 'glance_stop_no');
  await v.click('#glance_stop_no');
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), true);
  await v.click('#glance_stop');
  await v.click('#glance_stop_yes');
  await waitEvent(v, 'sessionend');
  await v.locator('#glance_cobrowse_btn').waitFor({ state: 'hidden' });
  assert.ok(await v.locator('#glance_border').isHidden());
  assert.deepEqual(s.console.filter((c) => c.type === 'pageerror'), []);
});

it('terms dialog: focus inside, Tab trapped, Escape declines and restores focus; Accept starts the session', async (s) => {
  const { v } = await open(s);
  await v.focus('#field');
  await v.evaluate(() => window.GLANCE.Cobrowse.VisitorUI.showTerms());
  await v.locator('#glance_terms').waitFor({ state: 'visible' });
  assert.equal(await v.locator('#glance_terms').getAttribute('role'), 'dialog');
  assert.equal(await v.locator('#glance_terms').getAttribute('aria-modal'), 'true');
  assert.equal(await shadowActive(v), 'glance_terms_decline');
  await v.keyboard.press('Tab');
  assert.equal(await shadowActive(v), 'glance_terms_accept');
  await v.keyboard.press('Tab');
  assert.equal(await shadowActive(v), 'glance_terms_decline', 'Tab wraps inside the dialog');
  await v.keyboard.press('Shift+Tab');
  assert.equal(await shadowActive(v), 'glance_terms_accept');
  await v.keyboard.press('Escape');
  await v.locator('#glance_terms').waitFor({ state: 'detached' });
  assert.equal(await shadowActive(v), 'page:field', 'focus restored');
  await sleep(200);
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  assert.ok(!(await eventNames(v)).includes('sessionstarting'));
  await v.evaluate(() => window.GLANCE.Cobrowse.VisitorUI.showTerms());
  await v.click('#glance_terms_accept');
  await waitEvent(v, 'sessionstart');
  await v.locator('#glance_ssnkey').waitFor({ state: 'visible' });
});

it('data-ui="custom": no UI module, no skin, no element; events wait for setUIReady()', async (s) => {
  const { v, requests } = await open(s, 'ui=custom');
  await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.setUIReady());
  await start(v);
  await sleep(500);
  assert.equal(await v.locator('glance-cobrowse-ui').count(), 0);
  assert.deepEqual(requests.filter((u) => /GlanceCobrowseUI|\/skins\//.test(u)), []);
});

it('group 5678 staging skin and texts apply; French by data-lang; a missing default.css is harmless', async (s) => {
  await s.visitorContext.route(/\/cobrowse\/skins\/default\.css$/, (r) => r.fulfill({ status: 404, body: 'no' }));
  const { v } = await open(s, 'groupid=5678');
  await v.evaluate(() => window.GLANCE.Cobrowse.VisitorUI.showTerms());
  await v.locator('#glance_terms').waitFor({ state: 'visible' });
  assert.equal(await v.locator('#glance_terms h2').textContent(), 'Share your screen with Example Bank?');
  assert.equal(await v.locator('#glance_terms_accept').evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(11, 93, 59)');
  await v.keyboard.press('Escape');
  assert.ok(s.console.some((c) => /default\.css not used/.test(c.text)), s.consoleTail(10));

  await s.visitorContext.unroute(/\/cobrowse\/skins\/default\.css$/);
  await s.openVisitor('/test-pages/tagged.html?lang=fr', { waitForGlance: false });
  await ready(s.visitor);
  await s.visitor.evaluate(() => window.GLANCE.Cobrowse.VisitorUI.showTerms());
  await s.visitor.locator('#glance_terms').waitFor({ state: 'visible' });
  assert.equal(await s.visitor.locator('#glance_terms_accept').textContent(), 'Accepter');
  assert.deepEqual(s.console.filter((c) => c.type === 'pageerror'), []);
});

it('remote control: the default dialog asks (Deny focused), Allow enables it; the notice and "Stop remote control" end it', async (s) => {
  await s.openVisitor('/demo/index.html');
  const v = s.visitor;
  const key = await s.startSession();
  await s.openAgent(key);
  await s.agent.click('#glance-rc');
  await v.locator('#glance_rc').waitFor({ state: 'visible' });
  assert.match(await v.locator('#glance_rc').textContent(), /Agnes Agent/);
  assert.equal(await shadowActive(v), 'glance_rc_deny', 'the safe answer has the focus');
  await v.click('#glance_rc_allow');
  await v.locator('#glance_rc_status').waitFor({ state: 'visible' });
  assert.equal(await v.locator('#glance_ui').getAttribute('data-glance-rc'), 'on');
  await s.agent.waitForFunction(() => document.body.dataset.rc === 'enabled', null, { timeout: 10000 }).catch(() => {});
  await v.click('#glance_rc_stop');
  await v.locator('#glance_rc_status').waitFor({ state: 'hidden' });
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.getSessionState().rc), false);
  // The live region told the visitor (last message: control ended).
  await sleep(200);
  assert.match(await v.locator('#glance_live').textContent(), /Remote control ended/);
});
