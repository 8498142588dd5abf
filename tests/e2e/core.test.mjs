// Core end-to-end tests: visitor page (engine) -> cobrowse-server -> agent viewer, in headless Chromium.
// Run: node --test tests/e2e/   (after `make build`; `make e2e` does both)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { E2E, FIXTURE_PREFIX, sleep } from './harness.mjs';

let e2e;
before(async () => { e2e = await E2E.start(); });
after(async () => { await e2e?.stop(); });

/** A test with a fresh visitor + agent scenario; artifacts are dumped on failure. */
function it(name, fn, { timeout = 120000 } = {}) {
  test(name, { timeout }, async (t) => {
    if (!e2e) throw new Error('harness did not start (see the before() hook failure)');
    await e2e.run(fn)(t);
  });
}

/** Visitor on `p`, session started, agent viewer joined and showing an equal mirror. */
async function sessionOn(s, p) {
  await s.openVisitor(p);
  const key = await s.startSession();
  assert.match(key, /^\S+$/, 'session key');
  await s.openAgent(key);
  await s.mirrorMatches();
  return key;
}

const SECRETS = ['4111111111111111', '737', 'hunter2secret'];
// Fragments a leaking engine would send while the secret is being typed.
const SECRET_FRAGMENTS = ['41111111', 'hunter2'];

it('1. session on /demo/index.html: the agent mirror equals the visitor page', async (s) => {
  await sessionOn(s, '/demo/index.html');
  const hello = s.messages({ side: 'visitor', dir: 'sent', t: 'hello' });
  assert.ok(hello.length >= 1, 'visitor sent a hello');
  assert.equal(hello[0].msg.group, '1234');
  const snaps = s.messages({ side: 'visitor', dir: 'sent', t: 'snap' });
  assert.ok(snaps.length >= 1, 'visitor sent a snapshot');
  assert.equal(snaps[0].msg.seq, 1, 'first message of a page load has seq 1');
  const info = await s.e2e.server.sessionInfo(s.key);
  assert.equal(info.status, 200, '/api/session/KEY answers');
  assert.equal(info.body.key, s.key);
  assert.equal(info.body.state, 'active');
  const viewer = await s.viewerInfo();
  assert.ok(viewer, 'window.glanceViewer exists');
  assert.equal(viewer.key, s.key, 'glanceViewer.key');
  const errors = s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror');
  assert.deepEqual(errors, [], 'no uncaught errors on the visitor page');
});

it('1b. tricky markup fixture: URLs, CSS url(), on* attributes, SVG, comments, masked subtree', async (s) => {
  await sessionOn(s, `${FIXTURE_PREFIX}tricky.html`);
  // Masked by the group's ".glance_masked" selector: nothing inside it leaves the page.
  for (const secret of ['TOPSECRET-PLAIN-42', 'TOPSECRET-VALUE-43']) {
    assert.deepEqual(s.framesContaining(secret).map((f) => `${f.side} ${f.dir}`), [], `"${secret}" in a frame`);
  }
  const mirrorHtml = await s.agent.evaluate(() => document.querySelector('#glance-mirror').contentDocument.documentElement.outerHTML);
  assert.ok(!mirrorHtml.includes('TOPSECRET'), 'masked text absent from the mirror document');
  assert.ok(!/javascript:/i.test(mirrorHtml), 'no javascript: URL in the mirror');
  assert.ok(!/\sonclick=|\sonload=/i.test(mirrorHtml), 'no on* attributes in the mirror');
  const sandbox = await s.agent.evaluate(() => document.querySelector('#glance-mirror').getAttribute('sandbox'));
  assert.ok(sandbox !== null && !/allow-scripts/.test(sandbox), `mirror iframe sandbox="${sandbox}" must not allow scripts`);
});

it('2. DOM mutations: add, remove, move, attributes, text; mirror equal after each', async (s) => {
  await sessionOn(s, '/demo/index.html');
  const steps = [
    ['append a subtree (elements, text, comment, SVG)', () => {
      const sec = document.createElement('section');
      sec.id = 'e2e-added';
      sec.className = 'card';
      sec.innerHTML = '<h2>Added <em>by</em> the test</h2><ul><li>a</li><li>b</li><li>c</li></ul>' +
        '<!-- added comment --><p>text <a href="products.html">relative link</a></p>' +
        '<svg width="10" height="10"><rect width="5" height="5"></rect></svg>';
      document.querySelector('main').appendChild(sec);
    }],
    ['set and change attributes', () => {
      const h = document.querySelector('#e2e-added h2');
      h.setAttribute('title', 'a title');
      h.setAttribute('data-n', '1');
      document.querySelector('#e2e-added').className = 'card changed';
      document.body.setAttribute('data-e2e', 'yes');
    }],
    ['remove an attribute', () => {
      document.querySelector('#e2e-added h2').removeAttribute('data-n');
      document.body.removeAttribute('data-e2e');
    }],
    ['change text data', () => {
      document.querySelector('h1').firstChild.data = 'Changed heading text';
      document.querySelector('#e2e-added li').textContent = 'first item, new text';
    }],
    ['reorder siblings', () => {
      const ul = document.querySelector('#e2e-added ul');
      ul.insertBefore(ul.lastElementChild, ul.firstElementChild);
    }],
    ['move a subtree to another position and a node across parents', () => {
      const main = document.querySelector('main');
      main.insertBefore(document.querySelector('#e2e-added'), main.firstElementChild);
      document.querySelector('footer').appendChild(document.querySelector('#e2e-added p'));
    }],
    ['remove nodes', () => {
      document.querySelector('#e2e-added ul li:nth-child(2)').remove();
      document.querySelectorAll('main > section.card')[1].remove();
    }],
    ['replace a subtree with innerHTML', () => {
      document.querySelector('#e2e-added ul').innerHTML = '<li>x</li><li>y <b>z</b></li>';
    }],
    ['batch in one task: add+remove, remove+reinsert, text node edits', () => {
      const ul = document.querySelector('#e2e-added ul');
      const tmp = document.createElement('li');
      ul.appendChild(tmp);
      tmp.remove(); // added and removed in the same task: must not reach the mirror
      const first = ul.firstElementChild;
      first.remove();
      ul.appendChild(first); // removed and reinserted
      const t = document.createTextNode('loose text');
      ul.parentNode.appendChild(t);
      t.data = 'loose text, edited';
      ul.parentNode.appendChild(document.createComment('c2'));
    }],
    ['many quick mutations across tasks', async () => {
      const box = document.createElement('div');
      box.id = 'e2e-quick';
      document.body.appendChild(box);
      for (let i = 0; i < 30; i++) {
        const p = document.createElement('p');
        p.textContent = 'row ' + i;
        box.appendChild(p);
        if (i % 3 === 0) box.firstChild.remove();
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 0));
      }
    }],
    ['reorder with changes made while the node was out (one task: sent by reference)', () => {
      const ul = document.querySelector('#e2e-added ul');
      const li = ul.firstElementChild;
      li.remove();
      li.setAttribute('data-out', '1');
      li.appendChild(document.createTextNode(' changed while out'));
      ul.appendChild(li);
    }],
    ['reorder across tasks: taken out, changed while detached in a later task, put back', async () => {
      const ul = document.querySelector('#e2e-added ul');
      const li = ul.firstElementChild;
      li.remove();
      await new Promise((r) => setTimeout(r, 0));
      li.setAttribute('data-detached', 'yes');
      li.firstChild.data = 'edited while detached';
      ul.appendChild(li);
    }],
    ['in one task: reorder children inside a subtree, then move that subtree', () => {
      const ul = document.querySelector('#e2e-added ul');
      ul.insertBefore(ul.lastElementChild, ul.firstElementChild);
      const main = document.querySelector('main');
      main.appendChild(document.querySelector('#e2e-added'));
    }],
  ];
  for (const [what, fn] of steps) {
    await s.visitor.evaluate(fn);
    try {
      await s.mirrorMatches();
    } catch (err) {
      err.message = `after step "${what}": ${err.message}`;
      throw err;
    }
  }
  const diffs = s.messages({ side: 'visitor', dir: 'sent', t: 'diff' });
  assert.ok(diffs.length >= steps.length, `visitor sent diffs (${diffs.length})`);
});

it('3. checkout: typed values mirrored; card, CVV and password never leave the page', async (s) => {
  await sessionOn(s, '/demo/checkout.html');
  const v = s.visitor;
  for (const sel of ['#orderPayment\\.cardNumber', '#orderPayment\\.cvv', 'input[type=password]', '#name', '#address',
    '#country', '#gift', '#shipping-express']) {
    assert.ok(await v.$(sel), `checkout.html has ${sel}`);
  }
  await v.click('#name');
  await v.keyboard.type('Ada Lovelace');
  await v.click('#address');
  await v.keyboard.type('12 Analytical Row');
  await v.keyboard.press('Enter');
  await v.keyboard.type('London');
  await v.selectOption('#country', 'gb');
  await v.check('#gift');
  await v.check('#shipping-express');
  await s.mirrorMatches();

  await v.click('#orderPayment\\.cardNumber');
  await v.keyboard.type(SECRETS[0]);
  await v.click('#orderPayment\\.cvv');
  await v.keyboard.type(SECRETS[1]);
  await v.click('input[type=password]');
  await v.keyboard.type(SECRETS[2]);
  await v.click('#name');
  await v.keyboard.type(' Jr');
  await s.mirrorMatches();
  await sleep(500); // let any (leaking) late frames arrive

  // Sanity: the capture works and unmasked values do travel.
  assert.ok(s.framesContaining('Ada Lovelace Jr').length > 0, 'the unmasked name value appears in the frames');

  for (const secret of [...SECRETS, ...SECRET_FRAGMENTS]) {
    // A short secret (the CVV) could occur by chance inside a number (a gid, a size): look for it as a JSON string.
    const needle = secret.length < 6 ? JSON.stringify(secret) : secret;
    const hits = s.framesContaining(needle);
    assert.deepEqual(hits.map((f) => `${f.side} ${f.dir}: ${f.text.slice(0, 200)}`), [], `"${secret}" appears in a WebSocket frame`);
  }

  const gids = await v.evaluate(() => ['orderPayment.cardNumber', 'orderPayment.cvv', 'account-password']
    .map((id) => document.getElementById(id)?.getAttribute('data-gid') ?? null));
  const masked = await s.agent.evaluate((gids) => {
    const doc = document.querySelector('#glance-mirror').contentDocument;
    return gids.map((g) => {
      const el = g && doc.querySelector(`[data-gid="${g}"]`);
      return el ? el.hasAttribute('data-glance-masked') : 'missing';
    });
  }, gids);
  assert.deepEqual(masked, [true, true, true], `mirror marks card/cvv/password data-glance-masked (gids ${gids})`);
  const mirrorHtml = await s.agent.evaluate(() => document.querySelector('#glance-mirror').contentDocument.documentElement.outerHTML);
  for (const secret of [SECRETS[0], SECRETS[2]]) assert.ok(!mirrorHtml.includes(secret), `"${secret}" in the mirror`);
});

/** Scroll positions the agent page exposes for the window: mirror frame, its container, glanceViewer. */
async function agentScrollCandidates(s) {
  return s.agent.evaluate(() => {
    const out = {};
    const f = document.querySelector('#glance-mirror');
    if (f && f.contentWindow) out.mirrorScrollY = f.contentWindow.scrollY;
    if (f && f.contentDocument && f.contentDocument.scrollingElement) out.mirrorScrollTop = f.contentDocument.scrollingElement.scrollTop;
    for (let p = f && f.parentElement; p; p = p.parentElement) {
      if (p.scrollTop) { out.containerScrollTop = p.scrollTop; break; }
    }
    const v = window.glanceViewer || {};
    if (typeof v.sy === 'number') out.viewerSy = v.sy;
    if (v.scroll && typeof v.scroll.y === 'number') out.viewerScrollY = v.scroll.y;
    if (Array.isArray(v.scroll)) out.viewerScrollY = v.scroll[1];
    return out;
  });
}

async function expectAgentScroll(s, y, timeout = 8000) {
  const deadline = Date.now() + timeout;
  let c;
  for (;;) {
    c = await agentScrollCandidates(s);
    if (Object.values(c).some((x) => Math.abs(x - y) <= 2)) return c;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`agent never showed window scroll y=${y}; candidates ${JSON.stringify(c)}`);
}

it('4. window scroll follows on the agent side', async (s, t) => {
  await sessionOn(s, '/demo/widget.html');
  const maxY = await s.visitor.evaluate(() => document.documentElement.scrollHeight - innerHeight);
  assert.ok(maxY > 700, `widget.html is scrollable (max scrollY ${maxY})`);
  for (const y of [400, 700, 0]) {
    await s.visitor.evaluate((y) => window.scrollTo(0, y), y);
    const actual = await s.visitor.evaluate(() => window.scrollY);
    assert.equal(actual, y);
    const seen = await expectAgentScroll(s, y);
    t.diagnostic(`scrollY ${y}: agent shows ${JSON.stringify(seen)}`);
    const ops = s.messages({ side: 'visitor', dir: 'sent', t: 'diff' }).flatMap((m) => m.msg.ops || []);
    assert.ok(ops.some((op) => op[0] === 's' && op[1] === 0 && Math.abs(op[3] - y) <= 1) || y === 0,
      `visitor sent ["s", 0, x, ${y}]`);
  }
  // An inner scrollable element: ["s", gid, x, y] moves the mirror element with the same gid.
  const inner = await s.visitor.evaluate(() => {
    const el = document.getElementById('inner-scroll');
    if (!el || el.scrollHeight <= el.clientHeight + 20) return null;
    el.scrollTop = 60;
    return { gid: el.getAttribute('data-gid'), top: el.scrollTop };
  });
  assert.ok(inner, 'widget.html has a scrollable #inner-scroll');
  await s.agent.waitForFunction(({ gid, top }) => {
    const el = document.querySelector('#glance-mirror').contentDocument.querySelector(`[data-gid="${gid}"]`);
    return el && Math.abs(el.scrollTop - top) <= 2;
  }, inner, { timeout: 8000, polling: 100 }).catch(() => { throw new Error(`mirror #inner-scroll did not scroll to ${inner.top}`); });
  await s.mirrorMatches();
});

it('5. navigation: tagged page switch, untagged page => away, back => active', async (s) => {
  await sessionOn(s, '/demo/index.html');
  const page1 = (await s.viewerInfo()).page;
  assert.ok(page1, 'glanceViewer.page is set');

  await Promise.all([s.visitor.waitForURL('**/demo/products.html'), s.visitor.click('nav.site-nav a[href="products.html"]')]);
  await s.agent.waitForFunction((p) => window.glanceViewer && window.glanceViewer.page && window.glanceViewer.page !== p,
    page1, { timeout: 15000, polling: 50 }).catch(() => { throw new Error('agent glanceViewer.page did not change after navigation'); });
  await s.waitAgentState('active');
  await s.mirrorMatches();
  const keyAfter = await s.visitor.evaluate(() => GLANCE.Cobrowse.Visitor.getSessionState()?.sessionKey);
  assert.equal(keyAfter, s.key, 'same session continues on the next page');

  await Promise.all([s.visitor.waitForURL('**/demo/untagged.html'), s.visitor.click('nav.site-nav a[href="untagged.html"]')]);
  await s.waitAgentState('away');

  await Promise.all([s.visitor.waitForURL('**/demo/index.html'), s.visitor.click('main a[href="index.html"]')]);
  await s.waitAgentState('active');
  await s.mirrorMatches();
  const hellos = s.messages({ side: 'visitor', dir: 'sent', t: 'hello' });
  assert.ok(hellos.length >= 3, `a hello per tagged page load (${hellos.length})`);
  for (const h of hellos.slice(1)) assert.ok(h.msg.sid, 'later hellos resume the session (sid set)');
});

it('6. dropped visitor socket: no diff lost, engine resends after reconnect', async (s) => {
  await sessionOn(s, '/demo/index.html');
  const socketsBefore = s.sockets.filter((x) => x.side === 'visitor').length;
  await s.e2e.server.dropVisitorSocket(s.key);
  await s.visitor.evaluate(async () => {
    const main = document.querySelector('main');
    for (let i = 0; i < 6; i++) {
      const p = document.createElement('p');
      p.className = 'while-disconnected';
      p.textContent = 'written while disconnected ' + i;
      main.appendChild(p);
      document.querySelector('h1').firstChild.data = 'heading v' + i;
      if (i === 3) main.querySelector('p.while-disconnected').remove();
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  await s.mirrorMatches({ timeout: 20000 });

  const visitorSockets = s.sockets.filter((x) => x.side === 'visitor');
  assert.ok(visitorSockets.length > socketsBefore, `visitor reconnected (${visitorSockets.length} sockets)`);

  // The agent saw every diff of this page: seqs contiguous, no gap-triggered snapshot request.
  const snapreqs = s.messages({ side: 'agent', dir: 'sent', t: 'snapreq' });
  assert.equal(snapreqs.length, 0, 'agent never had to ask for a snapshot (no sequence gap)');
  const agentMsgs = s.messages({ side: 'agent', dir: 'received' }).filter((m) => m.msg && (m.msg.t === 'diff' || m.msg.t === 'snap'));
  const lastPage = agentMsgs[agentMsgs.length - 1].msg.page;
  const pageMsgs = agentMsgs.filter((m) => m.msg.page === lastPage);
  const seqs = pageMsgs.map((m) => `${m.msg.t}:${m.msg.seq}`);
  for (let i = 1; i < pageMsgs.length; i++) {
    if (pageMsgs[i].msg.t === 'diff') {
      assert.equal(pageMsgs[i].msg.seq, pageMsgs[i - 1].msg.seq + 1, `agent-side seqs contiguous: ${seqs.join(' ')}`);
    }
  }
  assert.equal(pageMsgs.filter((m) => m.msg.t === 'snap').length, 1, `agent got one snapshot for the page: ${seqs.join(' ')}`);

  // Visitor side: after the new welcome, the engine continues at last.seq + 1 with diffs (resend), not a new snapshot.
  const lastWs = visitorSockets[visitorSockets.length - 1].ws;
  const welcome = s.messages({ side: 'visitor', dir: 'received', t: 'welcome', ws: lastWs })[0];
  assert.ok(welcome, 'reconnected socket got a welcome');
  const afterSent = s.messages({ side: 'visitor', dir: 'sent', ws: lastWs }).filter((m) => m.msg && (m.msg.t === 'diff' || m.msg.t === 'snap'));
  assert.ok(afterSent.length > 0, 'engine sent messages on the reconnected socket');
  const last = welcome.msg.last;
  assert.ok(last && last.page === lastPage, `welcome.last names this page: ${JSON.stringify(last)}`);
  assert.equal(afterSent[0].msg.t, 'diff', `first message after reconnect is a resent diff, not a ${afterSent[0].msg.t}`);
  assert.equal(afterSent[0].msg.seq, last.seq + 1, `first resent seq = welcome.last.seq + 1 (${last.seq + 1})`);
  const written = s.framesContaining('written while disconnected 5');
  assert.ok(written.some((f) => f.side === 'agent' && f.dir === 'received'), 'the last disconnected-time diff reached the agent');
});

it('7a. loader tag without data-groupid logs "data-groupid missing" and leaves the page working', async (s) => {
  await s.openVisitor(`${FIXTURE_PREFIX}no-groupid.html`, { waitForGlance: false });
  await s.visitor.waitForFunction(() => document.getElementById('status').textContent === 'page script ran');
  const deadline = Date.now() + 5000;
  while (!s.console.some((c) => c.side === 'visitor' && c.type === 'error' && c.text.includes('data-groupid missing'))) {
    if (Date.now() > deadline) throw new Error('no console error containing "data-groupid missing"');
    await sleep(50);
  }
  await s.visitor.click('#bump');
  assert.equal(await s.visitor.textContent('#count'), '1', 'page keeps working');
  assert.equal(s.sockets.length, 0, 'no WebSocket opened');
});

it('7b. engine wasm 404: error event SCRIPT_NOT_LOADED, page keeps working', async (s) => {
  await s.visitorContext.route((u) => u.pathname.endsWith('/glance_cobrowse_bg.wasm'),
    (route) => route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
  await s.openVisitor(`${FIXTURE_PREFIX}wasm-404.html`);
  await s.visitor.waitForFunction(() => (window.__glanceEvents || []).some((e) => e.name === 'error'), null, { timeout: 10000 })
    .catch(() => { throw new Error('no error event after the wasm 404'); });
  const events = await s.visitor.evaluate(() => window.__glanceEvents);
  const err = events.find((e) => e.name === 'error');
  assert.equal(err.payload && err.payload.code, 'SCRIPT_NOT_LOADED', `error payload ${JSON.stringify(err.payload)}`);
  assert.equal(await s.visitor.textContent('#status'), 'page script ran');
  await s.visitor.click('#bump');
  assert.equal(await s.visitor.textContent('#count'), '1', 'page keeps working');
  // API calls after the failure neither throw nor start anything.
  const r = await s.visitor.evaluate(() => {
    try {
      GLANCE.Cobrowse.Visitor.startSession();
      return { threw: false, inSession: GLANCE.Cobrowse.Visitor.inSession() };
    } catch (e) { return { threw: String(e) }; }
  });
  assert.deepEqual(r, { threw: false, inSession: false });
  const pageErrors = s.console.filter((c) => c.side === 'visitor' && c.type === 'pageerror');
  assert.deepEqual(pageErrors, [], 'no uncaught page errors');
});
