// GLANCE.Authorization / GLANCE.Presence.Agent (server/viewer/glance-presence-agent.js) and the
// presence methods of GLANCE.Agent (server/viewer/glance-agent.js). Fake window, fetch, WebSocket
// and localStorage; no npm dependencies. Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const req = createRequire(import.meta.url);
const presence = req(fileURLToPath(new URL('../../server/viewer/glance-presence-agent.js', import.meta.url)));
const agentSdk = req(fileURLToPath(new URL('../../server/viewer/glance-agent.js', import.meta.url)));

const flush = async (n = 30) => { for (let i = 0; i < n; i++) await Promise.resolve(); };
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims) + '.sig';
const NOW = 1_800_000_000_000;

function setup({ routes = {}, stored = null, authtoken = null, metaGroup = '1234' } = {}) {
  const fetched = [];
  const sockets = [];
  const storage = new Map(stored ? [['glance_presence_auth', JSON.stringify(stored)]] : []);
  class FakeWS {
    constructor(url) { this.url = url; this.sent = []; sockets.push(this); }
    send(t) { this.sent.push(JSON.parse(t)); }
    close(code) { this.closed = code; Promise.resolve().then(() => this.onclose && this.onclose({ code })); }
    // test helpers
    open() { this.onopen && this.onopen(); }
    recv(m) { this.onmessage && this.onmessage({ data: JSON.stringify(m) }); }
    drop() { this.onclose && this.onclose({ code: 1006 }); }
  }
  const el = (attrs) => ({ getAttribute: (n) => (n in attrs ? attrs[n] : null) });
  const win = {
    console: { warn() {} },
    Date: { now: () => NOW },
    location: new URL('https://crm.example/desk'),
    document: {
      currentScript: el({ src: 'https://cb.example:8443/agent/glance-presence-agent.js', 'data-authtoken': authtoken }),
      getElementById: (id) => (id === 'glance-cobrowse' ? el({ 'data-groupid': metaGroup }) : null),
    },
    localStorage: {
      getItem: (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: (k, v) => storage.set(k, String(v)),
      removeItem: (k) => storage.delete(k),
    },
    WebSocket: FakeWS,
    setTimeout: (f, ms) => { const t = setTimeout(f, ms); t.unref(); return t; }, clearTimeout,
    setInterval: (f, ms) => { const t = setInterval(f, ms); t.unref(); return t; }, clearInterval,
    addEventListener() {},
    open: () => ({ closed: false, close() {} }),
    fetch: async (url, opts = {}) => {
      fetched.push({ url, opts });
      const path = new URL(url).pathname;
      const r = routes[path];
      if (r === 'network') throw new TypeError('Failed to fetch');
      const a = typeof r == 'function' ? r(url, opts) : (r || { status: 404, body: { error: 'nope' } });
      return { ok: a.status === 200, status: a.status, json: async () => a.body };
    },
  };
  // currentScript.src is read as a property
  win.document.currentScript.src = 'https://cb.example:8443/agent/glance-presence-agent.js';
  const G = presence.install(win);
  return { win, G, fetched, sockets, storage };
}

const TOKEN = jwt({ sub: 'agnes', groupid: '1234', exp: NOW / 1000 + 3600 });

test('authorize posts credentials + group, keeps the token in memory and localStorage', async () => {
  const s = setup({ routes: { '/api/agent/authorize': { status: 200, body: { token: TOKEN, expires: NOW / 1000 + 3600 } } } });
  assert.deepEqual(Object.keys(s.win).filter((k) => k === 'GLANCE'), ['GLANCE']);
  assert.deepEqual(Object.keys(s.win.GLANCE).sort(), ['Authorization', 'Presence']);
  let ok = null;
  const r = await s.G.Authorization.authorize({ service: 'presence', credentials: { username: 'agnes', password: 'agnes-pass' },
    groupid: 1234, duration: '30', onsuccess: (x) => { ok = x; } });
  assert.equal(r.token, TOKEN);
  assert.equal(ok.token, TOKEN);
  assert.equal(s.fetched[0].url, 'https://cb.example:8443/api/agent/authorize');
  assert.deepEqual(JSON.parse(s.fetched[0].opts.body), { username: 'agnes', password: 'agnes-pass', groupid: '1234', duration: 30 });
  assert.equal(s.G.Authorization.getToken(), TOKEN);
  assert.equal(JSON.parse(s.storage.get('glance_presence_auth')).token, TOKEN);

  // A failure: onfail with the reason, promise rejected, token unchanged.
  const f = setup({ routes: { '/api/agent/authorize': { status: 401, body: { error: 'badcredentials' } } } });
  let reason = null;
  await assert.rejects(f.G.Authorization.authorize({ credentials: { username: 'x', password: 'y' }, groupid: '1234', onfail: (x) => { reason = x; } }));
  assert.equal(reason, 'authorization');
  assert.equal(f.G.Authorization.getToken(), null);
});

test('tokens from data-authtoken and localStorage; expired ones are dropped', () => {
  assert.equal(setup({ authtoken: TOKEN }).G.Authorization.getToken(), TOKEN);
  assert.equal(setup({ stored: { token: TOKEN, groupid: '1234', expires: NOW / 1000 + 10 } }).G.Authorization.getToken(), TOKEN);
  const old = setup({ stored: { token: TOKEN, groupid: '1234', expires: NOW / 1000 - 1 } });
  assert.equal(old.G.Authorization.getToken(), null);
  assert.equal(old.storage.has('glance_presence_auth'), false);
  const s = setup();
  s.G.Authorization.setToken(TOKEN);
  assert.equal(s.G.Authorization.getToken(), TOKEN);
});

test('lookupVisitor / signalVisitor / invokeVisitor over REST with the bearer token and reasons', async () => {
  const s = setup({ authtoken: TOKEN, routes: {
    '/lookupvisitor': (url) => (url.includes('visitorid=v1') ? { status: 200, body: { visitorid: 'v1', data: { url: 'u' } } } : { status: 404, body: { error: 'visitornotfound' } }),
    '/signalvisitor': (url, o) => (JSON.parse(o.body).data.func === 'alert' ? { status: 403, body: { error: 'forbidden' } } : { status: 200, body: { ok: true } }),
  } });
  const pa = new s.G.Presence.Agent({ visitorid: 'v1' });
  assert.equal(pa.presenceserver, 'https://cb.example:8443');
  const got = [];
  pa.lookupVisitor({ onsuccess: (d) => got.push(['ok', d.data]), onfail: (r) => got.push(['fail', r]) });
  new s.G.Presence.Agent({ visitorid: 'v2' }).lookupVisitor({ onfail: (r) => got.push(['fail', r]) });
  pa.signalVisitor({ data: { hi: 1 }, onsuccess: () => got.push(['sig']) });
  pa.invokeVisitor({ func: 'alert', args: {}, onfail: (r) => got.push(['inv', r]) });
  await flush();
  assert.deepEqual(got.sort(), [['fail', 'visitornotfound'], ['inv', 'forbidden'], ['ok', { url: 'u' }], ['sig']].sort());
  const l = s.fetched.find((f) => f.url.includes('/lookupvisitor'));
  assert.equal(l.url, 'https://cb.example:8443/lookupvisitor?groupid=1234&visitorid=v1');
  assert.equal(l.opts.headers.Authorization, 'Bearer ' + TOKEN);
  const sig = s.fetched.find((f) => f.url.includes('/signalvisitor') && JSON.parse(f.opts.body).mtype === 'signal');
  assert.deepEqual(JSON.parse(sig.opts.body), { mtype: 'signal', data: { hi: 1 } });

  // Without a token: authorization; network failure: connection.
  const n = setup({ routes: { '/lookupvisitor': 'network' } });
  const r = [];
  new n.G.Presence.Agent({ visitorid: 'v1' }).lookupVisitor({ onfail: (x) => r.push(x) });
  n.G.Authorization.setToken(TOKEN);
  new n.G.Presence.Agent({ visitorid: 'v1' }).lookupVisitor({ onfail: (x) => r.push(x) });
  await flush();
  assert.deepEqual(r.sort(), ['authorization', 'connection']);
});

test('connect: auth first, events to handler properties, signals over the socket, errors', async () => {
  const s = setup({ authtoken: TOKEN });
  const pa = new s.G.Presence.Agent({ uniqueid: '123456' });
  const ev = [];
  for (const n of ['visitorconn', 'visitorsock', 'presence', 'terms', 'visitorsessionstart', 'visitorsessionend', 'visitorerror', 'visibility', 'error']) {
    pa['on' + n] = (d) => ev.push([n, d]);
  }
  pa.connect();
  const ws = s.sockets[0];
  assert.equal(ws.url, 'wss://cb.example:8443/ws/presence/agent?groupid=1234&uniqueid=123456');
  ws.open();
  assert.deepEqual(ws.sent[0], { t: 'auth', token: TOKEN });
  ws.recv({ t: 'visitorconn', connected: true });
  ws.recv({ t: 'presence', data: { url: 'u' } });
  ws.recv({ t: 'terms', status: 'accepted' });
  ws.recv({ t: 'visibility', visibility: 'hidden' });
  ws.recv({ t: 'visitorsessionstart', data: { sessionKey: 'k' } });
  assert.deepEqual(ev, [['visitorconn', { connected: true }], ['presence', { url: 'u' }], ['terms', { status: 'accepted' }],
    ['visibility', { visibility: 'hidden' }], ['visitorsessionstart', { sessionKey: 'k' }]]);
  const acks = [];
  pa.signalVisitor({ data: 'x', onsuccess: () => acks.push('ok'), onfail: (r) => acks.push(r) });
  pa.invokeVisitor({ func: 'GLANCE.Cobrowse.Visitor.pause', args: { a: 1 }, onfail: (r) => acks.push(r) });
  assert.deepEqual(ws.sent.slice(1), [{ t: 'signal', id: 1, data: 'x' },
    { t: 'invoke', id: 2, func: 'GLANCE.Cobrowse.Visitor.pause', args: { a: 1 } }]);
  ws.recv({ t: 'ack', id: 1, ok: true });
  ws.recv({ t: 'ack', id: 2, ok: false, reason: 'visitornotfound' });
  assert.deepEqual(acks, ['ok', 'visitornotfound']);
  assert.equal(s.fetched.length, 0, 'no REST while connected');
  ws.drop();
  assert.deepEqual(ev.at(-1), ['error', { error: 'connfail', detail: 'connection' }]);

  // A refused token: connfail/authorization once (not a second "connection").
  const b = new s.G.Presence.Agent({ visitorid: 'v' });
  const e2 = [];
  b.onerror = (d) => e2.push(d);
  b.connect();
  const w2 = s.sockets[1];
  w2.open();
  w2.recv({ t: 'error', error: 'connfail', detail: 'authorization' });
  w2.drop();
  assert.deepEqual(e2, [{ error: 'connfail', detail: 'authorization' }]);

  // disconnect() is quiet; no token: connfail/authorization without a socket.
  const c = new s.G.Presence.Agent({ visitorid: 'v' });
  const e3 = [];
  c.onerror = (d) => e3.push(d);
  c.connect();
  c.disconnect();
  await flush();
  assert.deepEqual(e3, []);
  const none = setup();
  const d = new none.G.Presence.Agent({ visitorid: 'v' });
  const e4 = [];
  d.onerror = (x) => e4.push(x);
  d.connect();
  await flush();
  assert.deepEqual(e4, [{ error: 'connfail', detail: 'authorization' }]);
  assert.equal(none.sockets.length, 0);
});

test('GLANCE.Agent.presenceConnect / presenceStartSession / presenceDisconnect', async () => {
  const found = { agentjoinurl: 'https://cb.example:8443/agentjoin/AgentView.aspx?SessionKey=v1&ticket=T', groupid: '1234' };
  const s = setup({ routes: { '/api/agent/lookup': { status: 200, body: found } } });
  const A = agentSdk.install(s.win);
  const events = [];
  A.addEventListenerAll((n, d) => events.push([n, d]));

  // No token and no credentials: rejected + presenceFailed.
  await assert.rejects(A.presenceConnect('v1'));
  assert.deepEqual(events.at(-1), ['presenceFailed', { service: 'Presence', reason: 'authorization' }]);

  s.G.Authorization.setToken(TOKEN);
  const p = A.presenceConnect('v1');
  await flush();
  const ws = s.sockets[0];
  assert.equal(ws.url, 'wss://cb.example:8443/ws/presence/agent?groupid=1234&visitorid=v1');
  ws.open();
  ws.recv({ t: 'visitorconn', connected: true });
  const pa = await p;
  assert.equal(typeof pa.invokeVisitor, 'function');
  ws.recv({ t: 'presence', data: { url: 'u' } });
  ws.recv({ t: 'terms', status: 'displayed' });
  ws.recv({ t: 'visibility', visibility: 'visible' });
  const names = events.map((e) => e[0]);
  assert.deepEqual(names.slice(-3), ['presence', 'presenceOnTerms', 'presenceVisibility']);
  assert.deepEqual(events.at(-2)[1], { status: 'displayed' });

  // Start: invokes showTerms with {sessionKey: visitorid}, then joins that session.
  const st = A.presenceStartSession('v1');
  assert.deepEqual(ws.sent.at(-1), { t: 'invoke', id: 1, func: 'GLANCE.Cobrowse.VisitorUI.showTerms', args: { sessionKey: 'v1' } });
  ws.recv({ t: 'ack', id: 1, ok: true });
  const viewer = await st;
  assert.equal(typeof viewer.close, 'function');
  assert.ok(s.fetched.some((f) => f.url.includes('/api/agent/lookup?key=v1')));

  // A refused invoke: rejected + presenceInvokeFailed.
  const bad = A.presenceStartSession('v1', { func: 'alert' });
  ws.recv({ t: 'ack', id: 2, ok: false, reason: 'forbidden' });
  await assert.rejects(bad);
  assert.deepEqual(events.at(-1), ['presenceInvokeFailed', { service: 'Presence', reason: 'forbidden' }]);
  await assert.rejects(A.presenceStartSession('other'));
  assert.deepEqual(events.at(-1), ['presenceInvokeFailed', { service: 'Presence', reason: 'notconnected' }]);

  // Errors after connecting are presenceError; disconnect closes the socket quietly.
  ws.drop();
  assert.deepEqual(events.at(-1), ['presenceError', { error: 'connfail', detail: 'connection' }]);
  A.presenceDisconnect();
  await assert.rejects(A.presenceStartSession('v1'));

  // A refused token on connect: rejected + presenceFailed with the detail.
  const p2 = A.presenceConnect('v2');
  await flush();
  const w2 = s.sockets[1];
  w2.open();
  w2.recv({ t: 'error', error: 'connfail', detail: 'authorization' });
  await assert.rejects(p2);
  assert.deepEqual(events.at(-1), ['presenceFailed', { service: 'Presence', reason: 'authorization' }]);
});
