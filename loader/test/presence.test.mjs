// Tests for visitor presence: the loader's GLANCE.Presence.Visitor facade and
// loader/glance-cobrowse-presence.js, with a fake WebSocket and BroadcastChannel. No npm dependencies.
// Run: node --test loader/test/
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as presenceModule from '../glance-cobrowse-presence.js';

const LOADER = fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url));
const { boot } = createRequire(import.meta.url)(LOADER);
const LOADER_URL = 'https://cdn.example:8443/glance/cobrowse/GlanceCobrowseLoader.js';
const PRESENCE_URL = 'https://cdn.example:8443/glance/cobrowse/GlanceCobrowsePresence.js';

// Every test runs on mocked timers (the periodic presence interval would keep node alive).
beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout'] }));
afterEach(() => mock.timers.reset());

const flush = async (n = 10) => { for (let i = 0; i < n; i++) await Promise.resolve(); };

class Bus {
  constructor() { this.chans = []; }
  ctor() {
    const bus = this;
    return class FakeBC {
      constructor(name) { this.name = name; this.onmessage = null; bus.chans.push(this); }
      postMessage(data) {
        const copy = JSON.parse(JSON.stringify(data));
        for (const c of bus.chans) if (c !== this && c.name === this.name) queueMicrotask(() => c.onmessage && c.onmessage({ data: copy }));
      }
      close() {}
    };
  }
}

function makeWS(list) {
  return class FakeWS {
    constructor(url) { this.url = url; this.sent = []; this.closed = null; list.push(this); }
    send(t) { this.sent.push(JSON.parse(t)); }
    close(code) { this.closed = code || 1000; }
    // Test side:
    open() { this.onopen && this.onopen(); }
    recv(m) { this.onmessage && this.onmessage({ data: JSON.stringify(m) }); }
    drop(code = 1006) { this.onclose && this.onclose({ code }); }
    msgs(t) { return this.sent.filter((m) => m.t === t); }
  };
}

// A page with the loader tag; `attrs` are the tag's data-* attributes.
function page(attrs, { bus = new Bus(), visibility = 'visible', title = 'Shop', noBC = false } = {}) {
  const logs = { error: [], warn: [], log: [] };
  const con = {};
  for (const k of Object.keys(logs)) con[k] = (...a) => logs[k].push(a.map(String).join(' '));
  const sockets = [], imported = [], docListeners = {};
  const tag = { tagName: 'SCRIPT', src: LOADER_URL, getAttribute: (n) => (n === 'id' ? 'glance-cobrowse' : n in attrs ? attrs[n] : null) };
  const win = {
    console: con,
    location: new URL('https://shop.example/cart?x=1'),
    navigator: { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36', platform: 'Win32' },
    localStorage: { getItem: () => null },
    WebSocket: makeWS(sockets),
    BroadcastChannel: noBC ? undefined : bus.ctor(),
    confirm: () => true,
    addEventListener() {},
    document: {
      currentScript: tag, baseURI: 'https://shop.example/cart?x=1', cookie: '', title, visibilityState: visibility,
      getElementById: (id) => (id === 'glance-cobrowse' ? tag : null),
      querySelector: () => null,
      addEventListener: (t, f) => { (docListeners[t] ||= []).push(f); },
    },
  };
  const engineCalls = [];
  const engineMod = {
    default: async () => ({}),
    Engine: class {
      constructor(cfg, emit) { win.emitEngine = emit; }
      startSession(p) { engineCalls.push(['startSession', p]); }
      stopSession() { engineCalls.push(['stopSession']); }
      pause(b) { engineCalls.push(['pause', b]); }
      inSession() { return false; }
    },
  };
  const importer = async (u) => { imported.push(u); return u === PRESENCE_URL ? presenceModule : engineMod; };
  const C = boot(win, importer);
  const setVisible = (v) => { win.document.visibilityState = v; for (const f of docListeners.visibilitychange || []) f(); };
  return { win, C, G: win.GLANCE, logs, sockets, imported, engineCalls, setVisible, bus };
}

const BASE = { 'data-groupid': '1234', 'data-ui': 'custom' };

test('no data-presence: no GLANCE.Presence, no module fetched, no socket', async () => {
  for (const p of [undefined, 'off']) {
    const t = page(p ? { ...BASE, 'data-presence': p, 'data-visitorid': 'v1' } : { ...BASE, 'data-visitorid': 'v1' });
    await t.C.Loader.ready; await flush();
    assert.equal(t.G.Presence, undefined);
    assert.ok(!t.imported.includes(PRESENCE_URL));
    assert.equal(t.sockets.length, 0);
    assert.deepEqual(t.logs.warn, []);
  }
});

test('data-presence="api": the API is there, the module only comes with the first instance', async () => {
  const t = page({ ...BASE, 'data-presence': 'api', 'data-visitorid': 'v1' });
  await t.C.Loader.ready; await flush();
  assert.equal(typeof t.G.Presence.Visitor, 'function');
  assert.ok(!t.imported.includes(PRESENCE_URL));
  assert.equal(t.sockets.length, 0);
  const v = new t.G.Presence.Visitor({ visitorid: 'abc' });
  assert.equal(t.G.Presence.Visitor.instance, v);
  assert.equal(v.getVisitorId(), 'abc');
  assert.equal(v.isconnected(), false);
  await flush();
  assert.ok(t.imported.includes(PRESENCE_URL));
  assert.equal(t.sockets.length, 0, 'no socket before connect()');
  assert.deepEqual(Object.keys(t.win).filter((k) => /glance|presence/i.test(k)), ['GLANCE']);
});

test('data-presence="on": connects at load with the tag visitorid; first presence carries url, title, browser', async () => {
  const t = page({ ...BASE, 'data-presence': 'on', 'data-visitorid': 'cust-42', 'data-ws': 'wss://ws.example:9443' });
  await flush(20);
  assert.equal(t.sockets.length, 1);
  const s = t.sockets[0];
  assert.equal(s.url, 'wss://ws.example:9443/ws/presence/visitor?groupid=1234');
  s.open();
  assert.deepEqual(s.sent, [{ t: 'hello', visitorid: 'cust-42' }]);
  const v = t.G.Presence.Visitor.instance;
  let connected = 0;
  v.onconnected = () => connected++;
  s.recv({ t: 'welcome', visitorid: 'cust-42' });
  assert.equal(connected, 1);
  assert.equal(v.isconnected(), true);
  assert.deepEqual(s.msgs('presence'), [{ t: 'presence', data: {
    url: 'https://shop.example/cart?x=1', title: 'Shop', browser: { name: 'chrome', platform: 'win', version: 120 } } }]);
  assert.deepEqual(s.msgs('visibility'), [{ t: 'visibility', visibility: 'visible' }]);
  // Later calls send only the given data.
  v.presence({ data: { wizardpage: 3 } });
  assert.deepEqual(s.msgs('presence')[1], { t: 'presence', data: { wizardpage: 3 } });
});

test('default ws host is the one the loader derives; "on" without visitorid warns and does not connect', async () => {
  const t = page({ ...BASE, 'data-presence': 'on' });
  await flush(20);
  assert.equal(t.sockets.length, 0);
  assert.match(t.logs.warn.join('\n'), /needs data-visitorid/);
  const v = new t.G.Presence.Visitor({ visitorid: 'x1' });
  v.connect();
  await flush(20);
  // data-ws absent: the loader's host, wss on an https page.
  assert.equal(t.sockets[0].url, 'wss://cdn.example:8443/ws/presence/visitor?groupid=1234');
});

test('presence() before connect: data merged and sent in full on welcome; periodic resend on the interval', async () => {
  {
    const t = page({ ...BASE, 'data-presence': 'api', 'data-presenceinterval': '30' });
    const v = new t.G.Presence.Visitor({ visitorid: 'p1' });
    v.presence({ data: { a: 1 } });
    v.presence({ data: { b: 'two' } });
    v.connect();
    await flush(20);
    const s = t.sockets[0];
    s.open(); s.recv({ t: 'welcome', visitorid: 'p1' });
    assert.deepEqual(s.msgs('presence'), [{ t: 'presence', data: { url: 'https://shop.example/cart?x=1', title: 'Shop',
      browser: { name: 'chrome', platform: 'win', version: 120 }, a: 1, b: 'two' } }]);
    mock.timers.tick(29000);
    assert.equal(s.msgs('presence').length, 1);
    mock.timers.tick(1000);
    assert.equal(s.msgs('presence').length, 2);
    assert.equal(s.msgs('presence')[1].data.b, 'two');
    mock.timers.tick(30000);
    assert.equal(s.msgs('presence').length, 3);
    // disconnect stops everything: no more sends, no reconnect.
    v.disconnect();
    assert.equal(s.closed, 1000);
    assert.equal(v.isconnected(), false);
    mock.timers.tick(600000);
    assert.equal(s.msgs('presence').length, 3);
    assert.equal(t.sockets.length, 1);
  }
});

test('default interval is 60 s; presence data over 16 KB is refused with onerror', async () => {
  {
    const t = page({ ...BASE, 'data-presence': 'api' });
    const v = new t.G.Presence.Visitor({ visitorid: 'p1' });
    const errors = [];
    v.onerror = (e) => errors.push(e);
    v.presence(); v.connect();
    await flush(20);
    const s = t.sockets[0];
    s.open(); s.recv({ t: 'welcome' });
    mock.timers.tick(59999);
    assert.equal(s.msgs('presence').length, 1);
    mock.timers.tick(1);
    assert.equal(s.msgs('presence').length, 2);
    v.presence({ data: { big: 'x'.repeat(17000) } });
    assert.equal(s.msgs('presence').length, 2);
    assert.equal(errors[0].error, 'invalidprotocol');
  }
});

test('invalid visitor ids are refused locally: onerror invalidprotocol, nothing sent', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  for (const id of ['has space', 'a*b', 'x>y', '', 'z'.repeat(129)]) {
    const v = new t.G.Presence.Visitor({ visitorid: id });
    const errors = [];
    v.onerror = (e) => errors.push(e);
    v.connect();
    await flush(20);
    assert.equal(errors.length, 1, id);
    assert.equal(errors[0].error, 'invalidprotocol');
    v.setVisitorId('b d');
    assert.equal(errors.length, 2);
  }
  assert.equal(t.sockets.length, 0);
});

test('setVisitorId reconnects with the new id; GLANCE.Presence.Visitor.setVisitorId targets the last instance', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  const v = new t.G.Presence.Visitor({ visitorid: 'old' });
  v.connect();
  await flush(20);
  t.sockets[0].open(); t.sockets[0].recv({ t: 'welcome', visitorid: 'old' });
  t.G.Presence.Visitor.setVisitorId('new1');
  assert.equal(t.sockets[0].closed, 1000);
  assert.equal(t.sockets.length, 2);
  t.sockets[1].open();
  assert.deepEqual(t.sockets[1].sent, [{ t: 'hello', visitorid: 'new1' }]);
  assert.equal(v.getVisitorId(), 'new1');
});

test('connectUnique: onunique {uniqueid, expires}; extendUnique sends extend', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  const v = new t.G.Presence.Visitor();
  const got = [];
  v.onunique = (u) => got.push(u);
  v.connectUnique();
  await flush(20);
  const s = t.sockets[0];
  s.open();
  assert.deepEqual(s.sent, [{ t: 'unique' }]);
  s.recv({ t: 'unique', uniqueid: '123456', expires: 1700000300 });
  assert.deepEqual(got, [{ uniqueid: '123456', expires: 1700000300 }]);
  assert.equal(v.getVisitorId(), '123456');
  v.extendUnique();
  assert.deepEqual(s.sent.at(-1), { t: 'extend' });
});

test('signals reach onsignal; server errors reach onerror {error, detail}', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  const v = new t.G.Presence.Visitor({ visitorid: 's1' });
  const sig = [], errs = [];
  v.onsignal = (d) => sig.push(d);
  v.onerror = (e) => errs.push(e);
  v.connect();
  await flush(20);
  const s = t.sockets[0];
  s.open(); s.recv({ t: 'welcome' });
  s.recv({ t: 'signal', data: { chatid: '1', command: 'startchat' } });
  assert.deepEqual(sig, [{ chatid: '1', command: 'startchat' }]);
  s.recv({ t: 'error', code: 'invalidprotocol', msg: 'bad' });
  assert.deepEqual(errs, [{ error: 'invalidprotocol', detail: 'bad' }]);
  // A handler that throws does not escape.
  v.onsignal = () => { throw new Error('boom'); };
  s.recv({ t: 'signal', data: 1 });
  assert.match(t.logs.error.join('\n'), /onsignal threw/);
});

test('a dropped socket reconnects with capped backoff and reports connfail; close 1008 and 4001 do not retry', async () => {
  {
    const t = page({ ...BASE, 'data-presence': 'api' });
    const v = new t.G.Presence.Visitor({ visitorid: 'r1' });
    const errs = [];
    v.onerror = (e) => errs.push(e);
    v.connect();
    await flush(20);
    t.sockets[0].open(); t.sockets[0].recv({ t: 'welcome' });
    t.sockets[0].drop();
    assert.deepEqual(errs, [{ error: 'connfail', detail: 'connection' }]);
    assert.equal(v.isconnected(), false);
    mock.timers.tick(999);
    assert.equal(t.sockets.length, 1);
    mock.timers.tick(1);
    assert.equal(t.sockets.length, 2);
    // Failures without a welcome keep doubling, capped at 30 s.
    const gaps = [];
    for (let i = 0; i < 7; i++) {
      const n = t.sockets.length;
      t.sockets.at(-1).drop();
      let waited = 0;
      while (t.sockets.length === n) { mock.timers.tick(1000); waited += 1000; }
      gaps.push(waited);
    }
    assert.deepEqual(gaps, [2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    const n = t.sockets.length;
    t.sockets.at(-1).drop(1008);
    mock.timers.tick(120000);
    assert.equal(t.sockets.length, n);
  }
  {
    // Close 4001: another socket of this visitor replaced this one; no retry, no error.
    const t = page({ ...BASE, 'data-presence': 'api' });
    const v = new t.G.Presence.Visitor({ visitorid: 'r2' });
    const errs = [];
    v.onerror = (e) => errs.push(e);
    v.connect();
    await flush(20);
    t.sockets[0].open(); t.sockets[0].recv({ t: 'welcome' });
    t.sockets[0].drop(4001);
    mock.timers.tick(120000);
    assert.equal(t.sockets.length, 1);
    assert.deepEqual(errs, []);
  }
});

test('visibility changes are reported', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  const v = new t.G.Presence.Visitor({ visitorid: 'vis' });
  v.connect();
  await flush(20);
  const s = t.sockets[0];
  s.open(); s.recv({ t: 'welcome' });
  t.setVisible('hidden');
  t.setVisible('visible');
  assert.deepEqual(s.msgs('visibility').map((m) => m.visibility), ['visible', 'hidden', 'visible']);
});

test('only the active tab keeps a socket: a tab that becomes visible takes over, the other closes', async () => {
  const bus = new Bus();
  const a = page({ ...BASE, 'data-presence': 'on', 'data-visitorid': 'tabs' }, { bus });
  await flush(30);
  assert.equal(a.sockets.length, 1);
  a.sockets[0].open(); a.sockets[0].recv({ t: 'welcome' });
  // A second tab opened in the background: it asks, tab A answers, B stays quiet.
  const b = page({ ...BASE, 'data-presence': 'on', 'data-visitorid': 'tabs' }, { bus, visibility: 'hidden' });
  await flush(30);
  mock.timers.tick(350); await flush(10);
  assert.equal(b.sockets.length, 0, 'hidden tab B does not connect while A is active');
  const bv = b.G.Presence.Visitor.instance;
  bv.presence({ data: { x: 1 } });
  assert.equal(b.sockets.length, 0);
  // The visitor switches to tab B.
  a.setVisible('hidden');
  b.setVisible('visible');
  await flush(30);
  assert.equal(b.sockets.length, 1);
  assert.equal(a.sockets[0].closed, 1000, 'tab A closed its socket');
  b.sockets[0].open(); b.sockets[0].recv({ t: 'welcome' });
  assert.equal(b.sockets[0].msgs('presence').length, 1);
  assert.equal(b.sockets[0].msgs('presence')[0].data.x, 1);
  // Signals and invokes on an inactive tab's (late) socket are ignored there.
  const sig = [];
  a.G.Presence.Visitor.instance.onsignal = (d) => sig.push(d);
  a.sockets[0].recv({ t: 'signal', data: 1 });
  assert.deepEqual(sig, []);
});

test('a hidden tab alone becomes active after asking; without BroadcastChannel every tab connects', async () => {
  const lone = page({ ...BASE, 'data-presence': 'on', 'data-visitorid': 'solo' }, { visibility: 'hidden' });
  await flush(30);
  assert.equal(lone.sockets.length, 0);
  mock.timers.tick(350); await flush(10);
  assert.equal(lone.sockets.length, 1);
  const nobc = page({ ...BASE, 'data-presence': 'on', 'data-visitorid': 'solo' }, { visibility: 'hidden', noBC: true });
  await flush(30);
  assert.equal(nobc.sockets.length, 1);
});

test('invoke: only the allow-list, resolved inside GLANCE; others forbidden with a warning; throwing -> failed', async () => {
  const t = page({ ...BASE, 'data-presence': 'api' });
  await t.C.Loader.ready;
  const v = new t.G.Presence.Visitor({ visitorid: 'inv' });
  v.connect();
  await flush(20);
  const s = t.sockets[0];
  s.open(); s.recv({ t: 'welcome' });
  s.recv({ t: 'invoke', id: 1, func: 'GLANCE.Cobrowse.Visitor.startSession', args: { sessionKey: '999' } });
  await flush(10);
  assert.deepEqual(t.engineCalls.at(-1), ['startSession', JSON.stringify({ sessionKey: '999' })]);
  assert.deepEqual(s.msgs('invokeres')[0], { t: 'invokeres', id: 1, ok: true, func: 'GLANCE.Cobrowse.Visitor.startSession' });
  s.recv({ t: 'invoke', id: 2, func: 'GLANCE.Cobrowse.Visitor.pause', args: true });
  await flush(10);
  assert.deepEqual(t.engineCalls.at(-1), ['pause', true]);
  let polluted = false;
  t.win.alert = () => { polluted = true; };
  t.G.Evil = () => { polluted = true; };
  for (const [id, func] of [[3, 'alert'], [4, 'GLANCE.Evil'], [5, 'GLANCE.Cobrowse.Visitor.setUserState'],
    [6, 'GLANCE.Cobrowse.Visitor.startSession.constructor'], [7, 'GLANCE.Cobrowse.Visitor.__proto__.startSession'], [8, { x: 1 }]]) {
    s.recv({ t: 'invoke', id, func, args: {} });
    assert.equal(s.msgs('invokeres').at(-1).id, id);
    assert.equal(s.msgs('invokeres').at(-1).ok, false);
    assert.equal(s.msgs('invokeres').at(-1).reason, 'forbidden');
  }
  assert.equal(polluted, false);
  assert.equal(t.logs.warn.filter((w) => /refused/.test(w)).length, 6);
  // An allowed name that is not an own function (replaced by a page) is forbidden too.
  t.G.Cobrowse.VisitorUI.showTerms = 'nope';
  s.recv({ t: 'invoke', id: 9, func: 'GLANCE.Cobrowse.VisitorUI.showTerms', args: {} });
  assert.equal(s.msgs('invokeres').at(-1).reason, 'forbidden');
  t.G.Cobrowse.VisitorUI.showTerms = () => { throw new Error('custom UI broke'); };
  s.recv({ t: 'invoke', id: 10, func: 'GLANCE.Cobrowse.VisitorUI.showTerms', args: {} });
  assert.deepEqual(s.msgs('invokeres').at(-1), { t: 'invokeres', id: 10, ok: false, func: 'GLANCE.Cobrowse.VisitorUI.showTerms', reason: 'failed' });
});

test('terms dialog and cobrowse events are reported as event messages', async () => {
  const t = page({ 'data-groupid': '1234', 'data-presence': 'api' }); // default UI (absent here: confirm fallback)
  await t.C.Loader.ready;
  const v = new t.G.Presence.Visitor({ visitorid: 'terms' });
  v.connect();
  await flush(20);
  const s = t.sockets[0];
  s.open(); s.recv({ t: 'welcome' });
  // The UI module fails to load (the fake importer hands out the engine): the confirm fallback asks.
  t.win.confirm = () => false;
  s.recv({ t: 'invoke', id: 1, func: 'GLANCE.Cobrowse.VisitorUI.showTerms', args: { sessionKey: '1' } });
  await flush(30);
  t.win.confirm = () => true;
  t.G.Cobrowse.VisitorUI.showTerms({ sessionKey: '2' });
  await flush(30);
  assert.deepEqual(s.msgs('event').map((e) => [e.name, e.data.status]),
    [['terms', 'displayed'], ['terms', 'declined'], ['terms', 'displayed'], ['terms', 'accepted']]);
  assert.deepEqual(s.msgs('invokeres').at(-1), { t: 'invokeres', id: 1, ok: true, func: 'GLANCE.Cobrowse.VisitorUI.showTerms' });
  // A custom UI reports through VisitorUI.reportTerms; bad statuses are refused.
  t.G.Cobrowse.VisitorUI.reportTerms('displayed');
  t.G.Cobrowse.VisitorUI.reportTerms('bogus');
  assert.deepEqual(s.msgs('event').at(-1), { t: 'event', name: 'terms', data: { status: 'displayed' } });
  assert.match(t.logs.warn.join('\n'), /reportTerms\("bogus"\) ignored/);
  // The visitor's cobrowse events, as the page got them.
  t.win.emitEngine('sessionstart', { sessionKey: '2' });
  t.win.emitEngine('error', { code: 'conndrop', msg: 'lost' });
  t.win.emitEngine('sessionend', {});
  t.win.emitEngine('rcenabled', { enabled: true });
  await flush(10);
  assert.deepEqual(s.msgs('event').slice(-3), [
    { t: 'event', name: 'sessionstart', data: { sessionKey: '2' } },
    { t: 'event', name: 'error', data: { code: 'conndrop', msg: 'lost' } },
    { t: 'event', name: 'sessionend', data: {} }]);
});

test('the default UI module gets terms(): its displayed / accepted / declined reach the agent', async () => {
  // A stand-in for GlanceCobrowseUI.js (the real module's dialog calls ctx.terms the same way; the
  // browser e2e covers it): it reports what it was given.
  const fakeUI = { mount: (c) => ({ event() {}, showTerms() { c.terms('displayed'); c.terms('accepted'); c.terms('declined'); } }) };
  const sockets = [];
  const attrs = { 'data-groupid': '1234', 'data-presence': 'api' };
  const tag = { tagName: 'SCRIPT', src: LOADER_URL, getAttribute: (n) => attrs[n] ?? null };
  const win = {
    console: { error() {}, warn() {}, log() {} }, location: new URL('https://shop.example/'), navigator: {},
    localStorage: { getItem: () => null }, WebSocket: makeWS(sockets), addEventListener() {},
    document: { currentScript: tag, baseURI: 'https://shop.example/', cookie: '', title: '', visibilityState: 'visible',
      getElementById: () => tag, querySelector: () => null, addEventListener() {} },
  };
  const engineMod = { default: async () => ({}), Engine: class { startSession() {} } };
  const C = boot(win, async (u) => (u === PRESENCE_URL ? presenceModule : /GlanceCobrowseUI\.js$/.test(u) ? fakeUI : engineMod));
  await C.Loader.ready;
  const v = new win.GLANCE.Presence.Visitor({ visitorid: 'ui' });
  v.connect();
  await flush(20);
  sockets[0].open(); sockets[0].recv({ t: 'welcome' });
  win.GLANCE.Cobrowse.VisitorUI.showTerms({});
  await flush(30);
  assert.deepEqual(sockets[0].msgs('event').map((e) => e.data.status), ['displayed', 'accepted', 'declined']);
});
