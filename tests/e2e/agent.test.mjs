// The agent side end to end: the browser agent SDK (GLANCE.Agent) looks a session up and opens the
// viewer; remote control of a real React form; refusals; navigation with confirm; gestures; the
// Screen reader switch (accessibility); the embedding API (GLANCE.Cobrowse.Agent) with session
// messages.
// Run: node --test tests/e2e/agent.test.mjs   (after `make build`)
import assert from 'node:assert/strict';
import path from 'node:path';
import { PNG } from 'pngjs';
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

/** Waits for an event `name` (payload satisfying `pred`) recorded in `page`'s array `list`. */
async function waitRecorded(page, list, name, pred = () => true, timeout = 15000) {
  const t0 = Date.now();
  for (;;) {
    const got = await page.evaluate((l) => window[l], list);
    const hit = got.find(([n, d]) => n === name && pred(d));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} in ${list}; got ${JSON.stringify(got)}`);
    await sleep(50);
  }
}
const waitAgentEvent = (page, ...a) => waitRecorded(page, '__agentEvents', ...a);
const waitEmbedEvent = (page, ...a) => waitRecorded(page, '__embedEvents', ...a);

/** The element a `rcevent` path names on the visitor page (its id). */
const idAt = (v, p) => v.evaluate((sel) => document.querySelector(sel)?.id ?? null, p);

const AGNES = { username: 'agnes', puid: 'agnes@example.com', num: 1 };
/** The viewer's controls. */
const SEL = { rc: '#glance-rc', highlight: '#glance-highlight', notice: '#glance-notice' };

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

/** Clicks the viewer's remote-control button and has the visitor accept the request. */
async function enableRC(s, v) {
  await s.agent.click(SEL.rc);
  const req = await waitEvent(v, 'rcrequested');
  assert.deepEqual(req.agent, { ...AGNES, name: 'Agnes Agent' }, 'rcrequested names the agent');
  assert.deepEqual(await v.evaluate(() => [typeof window.__raw.rcrequested.accept, typeof window.__raw.rcrequested.decline]),
    ['function', 'function']);
  await v.evaluate(() => window.__raw.rcrequested.accept());
  await waitEvent(v, 'rcaccepted');
  assert.deepEqual(await waitEvent(v, 'rcenabled'), { enabled: true });
  await until(s.agent, (sel) => document.querySelector(sel)?.dataset.rc === 'enabled', 'body', 'the viewer showing control');
}

const rcEvents = async (v) => (await events(v)).filter(([n]) => n === 'rcevent').map(([, e]) => e);

it('remote control: the visitor accepts, the agent clicks and types into a React form; rcevent payloads as documented', async (s) => {
  const { v } = await reactVisitor(s);
  await s.openAgent();
  await s.mirrorMatches({ visitor: v });
  await enableRC(s, v);
  const mirror = s.agent.frameLocator('#glance-mirror');
  // A click: React's onClick runs on the visitor's page.
  await mirror.locator('#buy').click();
  await until(v, () => window.__state.clicks === 1, null, 'the Buy click');
  const [click] = await rcEvents(v);
  assert.equal(click.type, 'click');
  assert.deepEqual(click.agent, AGNES);
  assert.match(click.path, /^\[data-gid="\d+"\]$/);
  assert.equal(click.value, undefined);
  assert.equal(await idAt(v, click.path), 'buy');
  // Typing into the controlled input: React's state follows each keystroke.
  await mirror.locator('#name').click();
  await mirror.locator('#name').pressSequentially('Ada', { delay: 60 });
  await until(v, () => window.__state.name === 'Ada', null, 'React state "Ada"');
  const typing = (await rcEvents(v)).filter((e) => e.type === 'agenttyping');
  assert.deepEqual(typing.map((e) => e.value), ['A', 'Ad', 'Ada']);
  for (const e of typing) {
    assert.deepEqual(e.agent, AGNES);
    assert.equal(await idAt(v, e.path), 'name');
  }
  // Leaving the field: inputchange (no value), and React's onBlur ran.
  await mirror.locator('#plan').focus();
  const change = await until(v, () => (window.__events.find(([n, e]) => n === 'rcevent' && e.type === 'inputchange') || [])[1], null, 'inputchange');
  assert.equal(await idAt(v, change.path), 'name');
  assert.equal(change.value, undefined);
  await until(v, () => window.__state.committed === 'Ada', null, 'onBlur with "Ada"');
  // A select and a checkbox.
  await mirror.locator('#plan').selectOption('pro');
  await until(v, () => window.__state.plan === 'pro', null, 'React state plan=pro');
  await mirror.locator('#agree').click();
  await until(v, () => window.__state.agree === true, null, 'React state agree=true');
  assert.equal(await v.textContent('#echo'), 'Ada|pro|true|1');
  // The agent sees the result in the mirror.
  await s.mirrorMatches({ visitor: v });
  // The agent follows a link: the next page says again that remote control is on.
  await Promise.all([v.waitForURL(/tagged\.html\?from=rc/), mirror.locator('#next').click()]);
  assert.deepEqual(await waitEvent(v, 'rcenabled'), { enabled: true });
  await s.mirrorMatches({ visitor: v });
  // The agent stops remote control (requestRC(false)): the visitor hears it.
  await s.agent.click(SEL.rc);
  await waitEvent(v, 'rcenabled', (e) => e.enabled === false);
  await until(s.agent, () => document.body.dataset.rc === 'off', null, 'the viewer showing control ended');
});

it('remote control refusals: masked and password fields, javascript: links, and anything once the visitor revokes', async (s) => {
  const { v } = await reactVisitor(s);
  await s.openAgent();
  await s.mirrorMatches({ visitor: v });
  // Before RC is enabled: an action is refused (and nothing happens on the page).
  const before = await s.agent.evaluate(() => window.glanceViewer.act({ type: 'click', selector: '#buy' }));
  assert.equal(before.ok, false);
  assert.equal(before.reason, 'notenabled');
  await enableRC(s, v);
  const tries = [
    [{ type: 'type', selector: '#card', value: '4111' }, 'masked'],
    [{ type: 'type', selector: '#pass', value: 'hunter2' }, 'password'],
    [{ type: 'click', selector: '#js-link' }, 'javascript'],
  ];
  for (const [act, reason] of tries) {
    const r = await s.agent.evaluate((a) => window.glanceViewer.act(a), act);
    assert.deepEqual({ ok: r.ok, reason: r.reason }, { ok: false, reason }, `${act.selector} refused`);
  }
  // The refusal is visible to the agent.
  await until(s.agent, (sel) => /masked|password|script/i.test(document.querySelector(sel)?.textContent || ''), SEL.notice, 'a refusal notice');
  assert.deepEqual(await v.evaluate(() => [document.getElementById('card').value, document.getElementById('pass').value, window.__jsLinkRan]),
    ['', '', undefined]);
  assert.equal((await rcEvents(v)).length, 0, 'no rcevent for refused actions');
  // The visitor revokes: rcenabled false; the next action is refused.
  await visitor(v, 'disableRC');
  assert.ok((await events(v)).some(([n, e]) => n === 'rcenabled' && e.enabled === false));
  await until(s.agent, (sel) => document.querySelector(sel)?.dataset.rc === 'off', 'body', 'the viewer showing control ended');
  const after = await s.agent.evaluate(() => window.glanceViewer.act({ type: 'click', selector: '#buy' }));
  assert.equal(after.reason, 'notenabled');
  assert.equal(await v.evaluate(() => window.__state.clicks), 0);
});

it('gestures: the agent highlights an element; the visitor gets outline and sees it drawn, the mirror does not', async (s) => {
  const { v } = await reactVisitor(s);
  await s.openAgent();
  await s.mirrorMatches({ visitor: v });
  await s.agent.click(SEL.highlight);
  await s.agent.frameLocator('#glance-mirror').locator('#title').click();
  const outline = await waitEvent(v, 'outline');
  assert.equal(await idAt(v, outline.path), 'title');
  // Drawn on the visitor's page (the engine's overlay, a closed shadow root): orange pixels on the
  // outline's top edge around the heading ...
  await until(v, () => document.querySelector('glance-overlay') !== null, null, 'the overlay');
  const r = await v.evaluate(() => { const b = document.getElementById('title').getBoundingClientRect(); return { x: b.left, y: b.top, w: b.width }; });
  const orange = async () => {
    const png = PNG.sync.read(await v.screenshot({ clip: { x: Math.max(0, r.x - 8), y: Math.max(0, r.y - 8), width: r.w + 16, height: 8 } }));
    let n = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (Math.abs(png.data[i] - 245) < 40 && Math.abs(png.data[i + 1] - 166) < 40 && png.data[i + 2] < 110) n++;
    }
    return n;
  };
  let seen = 0;
  for (let i = 0; i < 40 && seen < 20; i++) { seen = await orange(); if (seen < 20) await sleep(100); }
  assert.ok(seen >= 20, `outline pixels on the visitor's screen: ${seen}`);
  // ... and never streamed to the agent.
  await sleep(300);
  assert.equal(s.framesContaining('data-glance-overlay').length, 0);
  await s.mirrorMatches({ visitor: v });
});

it('accessibility: the viewer\'s Screen reader switch; the visitor gets accessibility and labelled outlines, on every page', async (s) => {
  const { v } = await reactVisitor(s);
  await s.openAgent();
  await s.mirrorMatches({ visitor: v });
  assert.equal((await visitor(v, 'getSessionState')).accessibility, false);
  await s.agent.click('#glance-a11y');
  assert.deepEqual(await waitEvent(v, 'accessibility'), { enabled: true });
  await until(s.agent, () => document.getElementById('glance-a11y').getAttribute('aria-pressed') === 'true', null, 'the switch pressed');
  assert.equal((await visitor(v, 'getSessionState')).accessibility, true);
  // The highlighted element comes with its text for the visitor's screen reader ...
  await s.agent.click(SEL.highlight);
  await s.agent.frameLocator('#glance-mirror').locator('#title').click();
  const o = await waitEvent(v, 'outline');
  assert.equal(await idAt(v, o.path), 'title');
  assert.equal(o.accessibility, true);
  assert.equal(o.label, 'Checkout');
  // ... but nothing of a masked field or a password.
  for (const id of ['card', 'pass']) {
    const g = Number(await v.evaluate((i) => document.getElementById(i).getAttribute('data-gid'), id));
    await s.agent.evaluate((gid) => window.glanceViewer.gesture(gid), g);
    const m = await waitEvent(v, 'outline', (e) => e.gid === g);
    assert.equal(m.accessibility, true);
    assert.equal(m.label, undefined, id);
  }
  // The next page is told at once; the switch turns it off.
  await Promise.all([v.waitForNavigation(), v.click('#next')]);
  assert.deepEqual(await waitEvent(v, 'accessibility'), { enabled: true });
  await s.agent.click('#glance-a11y');
  assert.deepEqual(await waitEvent(v, 'accessibility', (e) => e.enabled === false), { enabled: false });
  await until(s.agent, () => document.getElementById('glance-a11y').getAttribute('aria-pressed') === 'false', null, 'the switch released');
  assert.equal((await visitor(v, 'getSessionState')).accessibility, false);
});

it('GLANCE.Cobrowse.Agent in an embedding console: events, session messages, navigate with confirm, requestRC', async (s) => {
  const { v, key } = await reactVisitor(s);
  const con = await s.agentContext.newPage();
  s._watch(con, 'agent');
  const q = new URLSearchParams({ SessionKey: key, wait: '1', ...loginKeyParams(AGENTS.agnes) });
  await con.goto(it.harness().url(`/test-pages/agent-embed.html?${q}`));
  const connected = await waitEmbedEvent(con, 'connected');
  assert.equal(connected.ssnkey, key);
  const nav = await waitEmbedEvent(con, 'navigate', (d) => /rc-form/.test(d.url));
  assert.equal(nav.service, 'cobrowse');
  assert.equal(nav.browser.name, 'chrome');
  await waitEmbedEvent(con, 'agents', (d) => d.count === 1);
  // Session messages, both ways; a non-object payload is refused at the call.
  await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.addSessionMessageListener('hello', (n, m) => window.__messages.push([n, m])));
  await con.evaluate(() => GLANCE.Cobrowse.Agent.sendSessionMessage('hello', { foo: 123 }));
  await until(v, () => window.__messages.length === 1, null, 'the message on the visitor side');
  assert.deepEqual(await v.evaluate(() => window.__messages), [['hello', { foo: 123 }]]);
  const bad = await con.evaluate(() => { try { GLANCE.Cobrowse.Agent.sendSessionMessage('hello', 'text'); return 'sent'; } catch (e) { return e.name; } });
  assert.equal(bad, 'TypeError');
  await visitor(v, 'sendSessionMessage', 'fromvisitor', { a: 1 });
  await until(con, () => window.__messages.length === 1, null, 'the message on the agent side');
  assert.deepEqual(await con.evaluate(() => window.__messages), [['fromvisitor', { a: 1 }]]);
  // requestRC(true): the visitor declines; the console hears it.
  await con.evaluate(() => GLANCE.Cobrowse.Agent.requestRC(true));
  await waitEvent(v, 'rcrequested');
  await v.evaluate(() => window.__raw.rcrequested.decline());
  await waitEvent(v, 'rcdeclined');
  assert.ok(!(await events(v)).some(([n]) => n === 'rcenabled'), 'no rcenabled after a decline');
  // An untrusted absolute URL is refused without bothering the visitor.
  await con.evaluate(() => GLANCE.Cobrowse.Agent.navigate({ url: 'https://evil.example/phish' }));
  const refused = await waitEmbedEvent(con, 'navigateresult', (d) => d.ok === false);
  assert.equal(refused.reason, 'untrusted');
  assert.ok(!(await events(v)).some(([n]) => n === 'confirm'));
  // Navigate with confirm: the visitor accepts, `navigation` fires, the page changes, the session continues.
  await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.addEventListener('navigation', (e) => sessionStorage.setItem('nav', JSON.stringify(e))));
  await con.evaluate(() => GLANCE.Cobrowse.Agent.navigate({ url: 'tagged.html?from=agent', confirm: true, link: true }));
  const confirm = await waitEvent(v, 'confirm');
  assert.equal(confirm.url, 'tagged.html?from=agent');
  await Promise.all([
    v.waitForURL(/tagged\.html\?from=agent/),
    v.evaluate(() => window.__raw.confirm.accept()),
  ]);
  assert.ok(JSON.parse(await v.evaluate(() => sessionStorage.getItem('nav'))));
  assert.equal((await waitEvent(v, 'sessioncontinue')).sessionKey, key);
  await waitEmbedEvent(con, 'navigate', (d) => /tagged\.html\?from=agent/.test(d.url));
});
