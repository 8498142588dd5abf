// The default visitor UI end to end: each state on a desktop and a mobile viewport against checked-in
// reference screenshots, an axe-core audit of each state, a keyboard-only walkthrough of the terms
// and remote-control prompts, and isolation (host page styles, layout, the agent's mirror).
// Run: node --test tests/e2e/ui-screens.test.mjs   (after `make build`); UPDATE_REFERENCE=1 rewrites
// tests/e2e/reference/*.png.
import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';
import { axeAudit, matchReference } from './reference.mjs';
import { suite } from './suite.mjs';

const it = suite();

const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 720 } },
  mobile: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 },
};

/** Selectors inside the UI's open shadow root (Playwright's CSS engine pierces it). */
const UI = {
  host: 'glance-cobrowse-ui',
  terms: '#glance_terms',
  accept: '#glance_terms_accept',
  decline: '#glance_terms_decline',
  btn: '#glance_cobrowse_btn',
  box: '#glance_ssnkey_box',
  key: '#glance_ssnkey',
  stop: '#glance_stop',
  border: '#glance_border',
  warning: '#glance_connection_warning',
};

const events = (p) => p.evaluate(() => window.__events);
async function waitEvent(page, name, pred = () => true, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    const hit = (await events(page)).find(([n, e]) => n === name && pred(e));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} event; got ${JSON.stringify(await events(page))}`);
    await sleep(50);
  }
}

/** The element focused on `page`, through shadow roots: `#id` or the tag name. */
const focused = (page) => page.evaluate(() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a ? (a.id ? '#' + a.id : a.localName) : null;
});

/** A visitor page of its own viewport in a new context. */
async function uiPage(s, kind, query = '') {
  const ctx = await s.e2e.browser.newContext(VIEWPORTS[kind]);
  s.extraContexts = (s.extraContexts || []).concat(ctx);
  const p = await ctx.newPage();
  s._watch(p, 'visitor');
  await p.goto(s.e2e.url('/test-pages/ui.html' + (query ? '?' + query : '')), { waitUntil: 'load' });
  await p.waitForFunction(() => window.GLANCE && GLANCE.Cobrowse.Loader, null, { polling: 50 });
  await p.evaluate(() => GLANCE.Cobrowse.Loader.ready);
  return p;
}

const settle = (p) => p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function audit(p, state) {
  const { violations, passedRules } = await axeAudit(p, { include: [[UI.host]] });
  assert.deepEqual(violations, [], `axe violations in state ${state}: ${JSON.stringify(violations, null, 1)}`);
  assert.ok(passedRules >= 10, `axe checked the UI (${passedRules} rules passed in state ${state})`);
}

/** Shows each UI state on `kind`'s viewport: a reference screenshot and an axe audit of each. */
async function walkStates(s, kind, key) {
  const p = await uiPage(s, kind);
  const shot = async (state) => {
    await settle(p);
    await matchReference(p, `ui-${kind}-${state}`);
    await audit(p, `${kind}/${state}`);
  };
  // Terms (from the page's documented data-glancebutton="showTerms" button).
  await p.click('#help');
  await p.locator(UI.terms).waitFor({ state: 'visible' });
  await shot('terms');
  // The visitor accepts: in session, waiting for an agent (the key is fixed for the picture).
  await p.click(UI.decline);
  await p.locator(UI.terms).waitFor({ state: 'hidden' });
  await p.evaluate((k) => GLANCE.Cobrowse.Visitor.startSession({ sessionKey: k }), key);
  await waitEvent(p, 'sessionstart');
  await p.locator(UI.key).waitFor({ state: 'visible' });
  assert.equal(await p.locator(UI.key).textContent(), key);
  await shot('waiting');
  // An agent joins.
  s.visitor = p;
  await s.openAgent(key);
  await waitEvent(p, 'agents', (e) => e.count === 1);
  await shot('agent');
  // The agent asks for remote control: the default prompt.
  await s.agent.click('#glance-rc');
  await p.locator('#glance_rc').waitFor({ state: 'visible' });
  await shot('rc-prompt');
  await p.click('#glance_rc_allow');
  await waitEvent(p, 'rcenabled', (e) => e.enabled === true);
  await p.locator('#glance_rc_stop').waitFor({ state: 'visible' });
  await shot('rc-on');
  // The agent sends the visitor to another page, asking first.
  await s.agent.fill('#glance-nav-url', '/test-pages/ui.html?page=2');
  await s.agent.check('#glance-nav-confirm');
  await s.agent.click('#glance-nav-go');
  await p.locator('#glance_nav').waitFor({ state: 'visible' });
  await shot('nav-prompt');
  await p.keyboard.press('Escape');
  await p.locator('#glance_nav').waitFor({ state: 'hidden' });
  // Paused.
  await p.click('#glance_pause');
  await waitEvent(p, 'sessionpaused', (e) => e.paused === true);
  await shot('paused');
  await p.click('#glance_pause');
  await waitEvent(p, 'sessionpaused', (e) => e.paused === false);
  // The connection drops and cannot come back yet: the warning.
  await p.context().setOffline(true);
  await s.e2e.server.dropVisitorSocket(key);
  await waitEvent(p, 'connection', (e) => e.status === 'reconnecting');
  await p.locator(UI.warning).waitFor({ state: 'visible' });
  await shot('reconnecting');
  await p.context().setOffline(false);
  await waitEvent(p, 'connection', (e) => e.status === 'ok', 20000);
  await p.locator(UI.warning).waitFor({ state: 'hidden' });
  // End session: the inline question.
  await p.click(UI.stop);
  await p.locator('#glance_stop_yes').waitFor({ state: 'visible' });
  await shot('end-confirm');
  await p.click('#glance_stop_no');
  // Collapsed to the button.
  await p.click(UI.btn);
  await p.locator(UI.box).waitFor({ state: 'hidden' });
  await shot('collapsed');
  await p.evaluate(() => GLANCE.Cobrowse.Visitor.stopSession());
  await waitEvent(p, 'sessionend');
}

it('every UI state on a desktop viewport matches its reference screenshot and passes axe', async (s) => {
  try {
    await walkStates(s, 'desktop', '4821');
  } finally {
    for (const c of s.extraContexts || []) await c.close().catch(() => {});
  }
}, { timeout: 120000 });

it('every UI state on a mobile viewport matches its reference screenshot and passes axe', async (s) => {
  try {
    await walkStates(s, 'mobile', '4822');
  } finally {
    for (const c of s.extraContexts || []) await c.close().catch(() => {});
  }
}, { timeout: 120000 });

it('keyboard only: the terms dialog and the remote-control prompt, then taking control back', async (s) => {
  const p = await uiPage(s, 'desktop');
  try {
    const tabTo = async (target, max = 20) => {
      for (let i = 0; i < max; i++) {
        if (await focused(p) === target) return;
        await p.keyboard.press('Tab');
      }
      throw new Error(`Tab never reached ${target} (at ${await focused(p)})`);
    };
    await tabTo('#help');
    await p.keyboard.press('Enter');
    await p.locator(UI.terms).waitFor({ state: 'visible' });
    // Focus is in the dialog, Tab stays there, Escape declines and gives focus back.
    const inDialog = [await focused(p)];
    for (let i = 0; i < 4; i++) { await p.keyboard.press('Tab'); inDialog.push(await focused(p)); }
    assert.ok(inDialog.every((f) => f === UI.accept || f === UI.decline), `focus left the dialog: ${inDialog}`);
    assert.ok(inDialog.includes(UI.accept) && inDialog.includes(UI.decline));
    await p.keyboard.press('Escape');
    await p.locator(UI.terms).waitFor({ state: 'hidden' });
    assert.equal(await focused(p), '#help', 'focus restored');
    assert.equal(await p.evaluate(() => GLANCE.Cobrowse.Visitor.inSession()), false);
    // Again, and accept with the keyboard: the session starts.
    await p.keyboard.press('Enter');
    await p.locator(UI.terms).waitFor({ state: 'visible' });
    await tabTo(UI.accept, 4);
    await p.keyboard.press('Enter');
    await waitEvent(p, 'sessionstart');
    const key = await p.evaluate(() => GLANCE.Cobrowse.Visitor.getSessionState().sessionKey);
    s.visitor = p;
    await s.openAgent(key);
    // The agent asks for control: the prompt takes focus; the visitor allows with the keyboard.
    await s.agent.click('#glance-rc');
    await p.locator('#glance_rc').waitFor({ state: 'visible' });
    const first = await focused(p);
    assert.ok(first === '#glance_rc_deny' || first === '#glance_rc_allow', `focus in the prompt (${first})`);
    await tabTo('#glance_rc_allow', 4);
    await p.keyboard.press('Enter');
    await waitEvent(p, 'rcaccepted');
    // Taking control back from the keyboard.
    await tabTo('#glance_rc_stop', 30);
    await p.keyboard.press('Enter');
    await waitEvent(p, 'rcenabled', (e) => e.enabled === false);
  } finally {
    for (const c of s.extraContexts || []) await c.close().catch(() => {});
  }
});

it('the UI is immune to the host page styles and never shifts its layout', async (s) => {
  const p = await uiPage(s, 'desktop');
  try {
    const rects = () => p.evaluate(() => ['title', 'intro', 'block', 'help', 'next'].map((id) => JSON.stringify(document.getElementById(id).getBoundingClientRect())));
    const before = await rects();
    await p.evaluate(() => GLANCE.Cobrowse.Visitor.startSession());
    await waitEvent(p, 'sessionstart');
    await p.locator(UI.key).waitFor({ state: 'visible' });
    assert.deepEqual(await rects(), before, 'no element of the page moved');
    // The page's `* { font-family: Comic Sans ...!important }` and colours do not reach the UI.
    const style = await p.evaluate(() => {
      const el = document.querySelector('glance-cobrowse-ui').shadowRoot.getElementById('glance_stop');
      const cs = getComputedStyle(el);
      return { font: cs.fontFamily, color: cs.color, bg: cs.backgroundColor, size: cs.fontSize };
    });
    assert.doesNotMatch(style.font, /Comic/);
    assert.notEqual(style.color, 'rgb(0, 255, 0)');
    assert.notEqual(style.bg, 'rgb(51, 0, 0)');
    assert.notEqual(style.size, '30px');
  } finally {
    for (const c of s.extraContexts || []) await c.close().catch(() => {});
  }
});
