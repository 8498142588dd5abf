// GLANCE.Agent (server/viewer/glance-agent.js): authentication, lookup retry schedule, cancel,
// timeout, popups, viewer events. Fake window, fetch and clock; no npm dependencies.
// Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const req = createRequire(import.meta.url);
const { install, SCHEDULE } = req(fileURLToPath(new URL('../../server/viewer/glance-agent.js', import.meta.url)));

const flush = async (n = 20) => { for (let i = 0; i < n; i++) await Promise.resolve(); };

/** A fake window with a manual clock. `lookups` answers lookup requests in order (the last repeats). */
function setup({ lookups = [{}], auth = { status: 200, body: { token: 'T'.repeat(32), expires: 1, agent: { username: 'agnes' } } }, popup = true, script = 'https://cb.example:8443/agent/glance-agent.js' } = {}) {
  let t = 1000;
  let timers = [];
  let seq = 0;
  const fetched = [];
  const events = [];
  const on = {};
  const opened = [];
  const win = {
    console: { warn: (...a) => events.push(['console.warn', a.join(' ')]) },
    Date: { now: () => t },
    location: new URL('https://crm.example/desk'),
    document: { currentScript: { src: script } },
    setTimeout: (fn, ms) => { const id = ++seq; timers.push({ id, at: t + ms, fn }); return id; },
    clearTimeout: (id) => { timers = timers.filter((x) => x.id !== id); },
    setInterval: (fn, ms) => { const id = ++seq; timers.push({ id, at: t + ms, fn, every: ms }); return id; },
    clearInterval: (id) => { timers = timers.filter((x) => x.id !== id); },
    addEventListener: (type, fn) => { (on[type] ||= []).push(fn); },
    fetch: async (url, opts) => {
      fetched.push({ url, opts, at: t });
      if (url.includes('/api/agent/auth')) {
        return { ok: auth.status === 200, status: auth.status, json: async () => auth.body };
      }
      const i = fetched.filter((f) => f.url.includes('/lookup')).length - 1;
      const a = lookups[Math.min(i, lookups.length - 1)];
      if (a === 'network') throw new TypeError('Failed to fetch');
      const status = a.status || 200;
      return { ok: status === 200, status, json: async () => a.body !== undefined ? a.body : a };
    },
    open: (url, name, features) => {
      if (!popup) return null;
      const w = { url, name, features, closed: false, close() { this.closed = true; } };
      opened.push(w);
      return w;
    },
  };
  const A = install(win);
  A.addEventListenerAll((name, data) => events.push([name, data]));
  /** Advances the clock by `ms`, running due timers in order (and the promises they start). */
  const advance = async (ms) => {
    const end = t + ms;
    for (;;) {
      await flush();
      const due = timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      t = due.at;
      if (due.every) due.at += due.every; else timers = timers.filter((x) => x !== due);
      due.fn();
    }
    t = end;
    await flush();
  };
  const post = (source, data, origin = 'https://cb.example:8443') => { for (const f of on.message || []) f({ source, data, origin }); };
  const names = () => events.map((e) => e[0]);
  return { A, win, fetched, events, names, advance, opened, post, now: () => t, pending: () => timers.length };
}

const FOUND = { id: 'abc', ssnid: 'abc', serverip: '127.0.0.1', servername: 'cb.example:8443', personid: 'agnes', groupid: '1234',
  passcode: '', agentjoinurl: 'https://cb.example:8443/agentjoin/AgentView.aspx?SessionKey=5012&groupid=1234&ticket=TK', clientjoinurl: '', visitorversion: '0.1.0' };

test('defines only GLANCE.Agent; webserver defaults to the script origin', () => {
  const s = setup();
  assert.deepEqual(Object.keys(s.win).filter((k) => k === 'GLANCE'), ['GLANCE']);
  assert.deepEqual(Object.keys(s.win.GLANCE), ['Agent']);
  assert.equal(s.A.webserver, 'https://cb.example:8443');
  assert.equal(install(s.win), s.A, 'installing twice keeps the first');
});

test('authenticate posts the credentials and keeps the bearer token for lookups', async () => {
  const s = setup({ lookups: [FOUND] });
  const r = await s.A.authenticate({ partnerid: 1234, partneruserid: 'agnes@example.com', loginkey: '$1$9$ab' });
  assert.deepEqual(r, { agent: { username: 'agnes' }, expires: 1 });
  assert.equal(r.token, undefined, 'the token is not handed out');
  const a = s.fetched[0];
  assert.equal(a.url, 'https://cb.example:8443/api/agent/auth');
  assert.equal(a.opts.method, 'POST');
  assert.deepEqual(JSON.parse(a.opts.body), { partnerid: 1234, partneruserid: 'agnes@example.com', loginkey: '$1$9$ab' });
  const d = await s.A.lookupSession('5012', false);
  assert.equal(s.fetched[1].url, 'https://cb.example:8443/api/agent/lookup?key=5012');
  assert.equal(s.fetched[1].opts.headers.Authorization, 'Bearer ' + 'T'.repeat(32));
  assert.deepEqual(d, { ...FOUND, service: 'agent' });
  assert.deepEqual(s.events.find((e) => e[0] === 'lookupFound')[1], { ...FOUND, service: 'agent' });
  // Refused credentials reject with the server's code.
  const bad = setup({ auth: { status: 401, body: { error: 'badcredentials' } } });
  await assert.rejects(bad.A.authenticate({ username: 'a', password: 'b' }), /badcredentials/);
});

test('lookup without wait: one attempt, {} when not found, no lookupWaiting', async () => {
  const s = setup({ lookups: [{}] });
  assert.deepEqual(await s.A.lookupSession('77', false), {});
  assert.equal(s.fetched.length, 1);
  assert.deepEqual(s.names(), []);
  assert.equal(s.pending(), 0);
});

test('lookup with wait follows the documented schedule exactly and times out at 45 s', async () => {
  const s = setup({ lookups: [{}] });
  const p = s.A.lookupSession('5012');
  let rejected = null;
  p.catch((e) => { rejected = e; });
  await s.advance(60000);
  const at = s.fetched.map((f) => f.at - 1000);
  assert.deepEqual(at, [0, 3000, 6000, 9000, 12000, 15000, 20000, 25000, 30000, 35000, 40000, 45000]);
  assert.deepEqual(at, SCHEDULE);
  const waiting = s.events.filter((e) => e[0] === 'lookupWaiting');
  assert.equal(waiting.length, 12);
  assert.equal(waiting[0][1].service, 'agent');
  assert.equal(waiting[0][1].ssnkey, '5012');
  assert.equal(typeof waiting[0][1].cancel, 'function');
  assert.ok(rejected && /timedout/.test(rejected.message));
  assert.deepEqual(s.events.at(-1), ['lookupFailed', { service: 'agent', ssnkey: '5012', reason: 'timedout' }]);
  assert.equal(s.pending(), 0);
});

test('a session that starts later is found on the next scheduled attempt', async () => {
  const s = setup({ lookups: [{}, {}, {}, FOUND] });
  const p = s.A.lookupSession('5012', true);
  await s.advance(8999);
  assert.equal(s.fetched.length, 3);
  await s.advance(1);
  assert.deepEqual(await p, { ...FOUND, service: 'agent' });
  assert.deepEqual(s.names(), ['lookupWaiting', 'lookupWaiting', 'lookupWaiting', 'lookupWaiting', 'lookupFound']);
  await s.advance(60000);
  assert.equal(s.fetched.length, 4, 'no attempt after it was found');
});

test('cancelLookup stops the most recent lookup; the cancel function of lookupWaiting too', async () => {
  const s = setup({ lookups: [{}] });
  const p = s.A.lookupSession('1');
  await s.advance(3500);
  s.A.cancelLookup();
  await assert.rejects(p, /cancelled/);
  assert.deepEqual(s.events.at(-1), ['lookupCancelled', { service: 'agent', ssnkey: '1' }]);
  const n = s.fetched.length;
  await s.advance(60000);
  assert.equal(s.fetched.length, n, 'no more attempts');
  assert.equal(s.names().filter((x) => x === 'lookupFailed').length, 0);
  // Through the event's cancel function.
  const p2 = s.A.lookupSession('2');
  await s.advance(0);
  s.events.filter((e) => e[0] === 'lookupWaiting').at(-1)[1].cancel();
  await assert.rejects(p2, /cancelled/);
  s.A.cancelLookup(); // nothing in progress: no effect
  assert.equal(s.names().filter((x) => x === 'lookupCancelled').length, 2);
});

test('errors fail the lookup with the reason', async () => {
  const s = setup({ lookups: [{ status: 401, body: { error: 'unauthenticated' } }] });
  await assert.rejects(s.A.lookupSession('9'), /unauthenticated/);
  assert.deepEqual(s.events.at(-1), ['lookupFailed', { service: 'agent', ssnkey: '9', reason: 'unauthenticated' }]);
  const n = setup({ lookups: ['network'] });
  await assert.rejects(n.A.lookupSession('9', false), /network/);
  assert.equal(n.events.at(-1)[1].reason, 'network');
  const m = setup({ lookups: [{ status: 500, body: 'oops' }] });
  await assert.rejects(m.A.lookupSession('9'), /http500/);
});

test('joinSession opens the join URL with the opener origin, tracks the window, fires events', async () => {
  const s = setup({ lookups: [FOUND] });
  const w = await s.A.joinSession('5012', { windowName: 'viewer' });
  assert.equal(s.opened.length, 1);
  const u = new URL(w.url);
  assert.equal(u.searchParams.get('ticket'), 'TK');
  assert.equal(u.searchParams.get('origin'), 'https://crm.example');
  assert.equal(w.name, 'viewer');
  assert.match(w.features, /width=800,height=800/);
  assert.match(w.features, /toolbar=no/);
  const opened = s.events.find((e) => e[0] === 'viewerOpened')[1];
  assert.equal(opened.service, 'agent');
  assert.equal(await s.A.inSession('5012'), false, 'not connected yet');
  // Viewer events: only from that window and the webserver origin.
  s.post(w, { glance_agent: { event: 'connected', data: { ssnkey: '5012', groupid: '1234' } } }, 'https://evil.example');
  s.post({}, { glance_agent: { event: 'connected', data: { ssnkey: '5012', groupid: '1234' } } });
  assert.equal(s.names().includes('connected'), false);
  s.post(w, { glance_agent: { event: 'connected', data: { ssnkey: '5012', groupid: '1234' } } });
  assert.deepEqual(s.events.at(-1), ['connected', { ssnkey: '5012', groupid: '1234', service: 'cobrowse' }]);
  assert.equal(await s.A.inSession('5012'), true);
  assert.equal(await s.A.inSession('9999'), false);
  s.post(w, { glance_agent: { event: 'agents', data: { count: 1, agentlist: [] } } });
  assert.deepEqual(s.events.at(-1), ['agents', { count: 1, agentlist: [], service: 'cobrowse' }]);
  s.post(w, { glance_agent: { event: 'sessionended', data: { reason: 'VisitorLeft', ssnkey: '5012', groupid: '1234' } } });
  assert.deepEqual(s.events.at(-1), ['sessionEnded', { ssnid: 'abc', ssnkey: '5012', groupid: '1234', reason: 'VisitorLeft', service: 'cobrowse' }]);
  assert.equal(await s.A.inSession('5012'), false);
  // Closing is noticed by polling every 500 ms.
  opened.close();
  assert.equal(w.closed, true);
  await s.advance(499);
  assert.equal(s.names().includes('viewerClosed'), false);
  await s.advance(1);
  assert.deepEqual(s.events.at(-1), ['viewerClosed', { service: 'agent' }]);
  assert.equal(s.pending(), 0, 'the poll stops');
});

test('a blocked popup fires popupblocked and rejects', async () => {
  const s = setup({ popup: false });
  await assert.rejects(s.A.openAgentJoinURL('https://cb.example:8443/agentjoin/AgentView.aspx?SessionKey=1'), /popupblocked/);
  assert.deepEqual(s.events, [['popupblocked', { service: 'agent' }]]);
  await assert.rejects(s.A.openAgentJoinURL('javascript:alert(1)'), /badurl/);
});

test('openViewer: with a token it uses a ticket from lookup; without, the plain viewer URL', async () => {
  const s = setup({ lookups: [{}] });
  const w = await s.A.openViewer('42');
  assert.equal(w.url, 'https://cb.example:8443/agentjoin/AgentView.aspx?SessionKey=42&wait=1&origin=https%3A%2F%2Fcrm.example');
  assert.equal(s.fetched.length, 0, 'no lookup without authentication');
  const t = setup({ lookups: [FOUND] });
  await t.A.authenticate({ username: 'agnes', password: 'x' });
  const w2 = await t.A.openViewer('5012');
  const u = new URL(w2.url);
  assert.equal(u.searchParams.get('ticket'), 'TK');
  assert.equal(u.searchParams.get('wait'), '1');
});

test('listener exceptions do not break the SDK; removeEventListener works', async () => {
  const s = setup({ lookups: [FOUND] });
  const seen = [];
  const bad = () => { throw new Error('boom'); };
  const good = (d) => seen.push(d.personid);
  s.A.addEventListener('lookupFound', bad);
  s.A.addEventListener('lookupFound', good);
  s.A.addEventListenerAll(bad);
  await s.A.lookupSession('5012', false);
  assert.deepEqual(seen, ['agnes']);
  assert.ok(s.events.some((e) => e[0] === 'console.warn' && /boom/.test(e[1])));
  s.A.removeEventListener('lookupFound', good);
  await s.A.lookupSession('5012', false);
  assert.deepEqual(seen, ['agnes']);
});
