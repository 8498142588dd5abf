// glance_invoke (postMessage from another window), the InvokeVisitor helper, data-glancebutton and
// data-inputevents. Fake DOM, no npm dependencies. Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const req = createRequire(import.meta.url);
const { boot } = req(fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url)));
const { install } = req(fileURLToPath(new URL('../glance-cobrowse-invoke-visitor.js', import.meta.url)));

const tick = async (n = 10) => { for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); };

function setup({ attrs = {}, trusted = ['localhost', 'https://chat.example:443/', 'trusted.com', 'http://[bad'], status = 200, page = 'https://shop.example/p.html', confirm = true } = {}) {
  const logs = { error: [], warn: [] };
  const con = { error: (...a) => logs.error.push(a.join(' ')), warn: (...a) => logs.warn.push(a.join(' ')), log() {} };
  const tag = { tagName: 'SCRIPT', src: 'https://cb.example:9443/cobrowse/GlanceCobrowseLoader.js',
    getAttribute: (n) => ({ id: 'glance-cobrowse', 'data-groupid': '1234', ...attrs })[n] ?? null };
  const on = {}, fetched = [], calls = [];
  const win = {
    console: con, location: new URL(page), confirm: () => confirm,
    addEventListener: (t, f) => { (on['win:' + t] ||= []).push(f); },
    fetch: async (url, opts) => { fetched.push([url, opts]); return { ok: status === 200, status, json: async () => ({ trusted_domains: trusted }) }; },
    document: { currentScript: tag, baseURI: page, cookie: '', getElementById: (id) => (id === 'glance-cobrowse' ? tag : null),
      addEventListener: (t, f) => { (on[t] ||= []).push(f); } },
  };
  const mod = {
    default: async () => {},
    Engine: class {
      startSession(p) { calls.push(['startSession', p]); }
      stopSession() { calls.push(['stopSession']); }
      pause(b) { calls.push(['pause', b]); }
      inSession() { return false; }
      getSessionState() { return null; }
    },
  };
  const C = boot(win, async () => mod);
  const post = (data, origin) => { for (const f of on['win:message'] || []) f({ data, origin }); };
  return { C, win, on, logs, fetched, calls, post };
}

test('glance_invoke from a trusted origin with the group id calls the Visitor function', async () => {
  const s = setup();
  await s.C.Loader.ready;
  s.post({ glance_invoke: { func: 'startSession', args: { sessionKey: '9999' }, groupid: 1234 } }, 'https://chat.example');
  s.post({ glance_invoke: { func: 'pause', args: true, groupid: '1234' } }, 'http://localhost:3000');
  s.post({ glance_invoke: { func: 'stopSession', groupid: '1234' } }, 'https://trusted.com');
  await tick();
  assert.deepEqual(s.calls, [['startSession', '{"sessionKey":"9999"}'], ['pause', true], ['stopSession']]);
  // The trusted list is fetched once, from the session server, without credentials or referrer.
  assert.equal(s.fetched.length, 1);
  assert.equal(s.fetched[0][0], 'https://cb.example:9443/api/group/1234/trusted');
  assert.equal(s.fetched[0][1].credentials, 'omit');
  assert.deepEqual(s.logs.warn, []);
});

test('hostile or wrong glance_invoke messages are ignored with a console warning', async () => {
  const s = setup({ attrs: { 'data-additionalgroupids': '77, 88' } });
  await s.C.Loader.ready;
  const cases = [
    [{ func: 'startSession', groupid: '1234' }, 'null', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'https://trusted.com.evil.com', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'https://evil.com', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'http://chat.example', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'https://sub.trusted.com', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'file://', /origin not trusted/],
    [{ func: 'startSession', groupid: '1234' }, 'https://localhost/x', /origin not trusted/],
    [{ func: 'startSession', groupid: '9' }, 'https://chat.example', /groupid 9 does not match/],
    [{ func: 'startSession' }, 'https://chat.example', /groupid {2}does not match/],
    [{ func: 'eval', groupid: '1234' }, 'https://chat.example', /unknown function eval/],
    [{ func: 'constructor', groupid: '1234' }, 'https://chat.example', /unknown function constructor/],
    [{ func: '__proto__', groupid: '1234' }, 'https://chat.example', /unknown function __proto__/],
    [{ func: 'toString', groupid: '1234' }, 'https://chat.example', /unknown function toString/],
    [{ func: ['startSession'], groupid: '1234' }, 'https://chat.example', /unknown function/],
    ['startSession', 'https://chat.example', /not \{func, args, groupid\}/],
    [null, 'https://chat.example', /not \{func/],
  ];
  for (const [m, origin, why] of cases) {
    const before = s.logs.warn.length;
    assert.doesNotThrow(() => s.post({ glance_invoke: m }, origin));
    await tick();
    assert.equal(s.logs.warn.length, before + 1, JSON.stringify([m, origin]));
    assert.match(s.logs.warn.at(-1), why, JSON.stringify([m, origin]));
    assert.match(s.logs.warn.at(-1), /glance_invoke from .* ignored/);
  }
  assert.deepEqual(s.calls, []);
  // Other messages (not glance_invoke) are none of the loader's business: no warning.
  const n = s.logs.warn.length;
  for (const d of [null, 'x', 5, { other: 1 }, []]) s.post(d, 'https://evil.com');
  await tick();
  assert.equal(s.logs.warn.length, n);
  // An additional group id is accepted.
  s.post({ glance_invoke: { func: 'stopSession', groupid: '88' } }, 'https://chat.example');
  await tick();
  assert.deepEqual(s.calls, [['stopSession']]);
});

test('the page\'s own origin is trusted; an unreachable trusted list rejects and is retried', async () => {
  const s = setup({ status: 500 });
  await s.C.Loader.ready;
  s.post({ glance_invoke: { func: 'stopSession', groupid: '1234' } }, 'https://chat.example');
  await tick();
  assert.match(s.logs.warn.at(-1), /trusted domains unavailable \(HTTP 500\)/);
  s.post({ glance_invoke: { func: 'stopSession', groupid: '1234' } }, 'https://chat.example');
  await tick();
  assert.equal(s.fetched.length, 2, 'a failed fetch is not cached');
  s.post({ glance_invoke: { func: 'stopSession', groupid: '1234' } }, 'https://shop.example');
  await tick();
  assert.deepEqual(s.calls, [['stopSession']]);
});

test('data-ws as a wss:// URL: the trusted list comes from that host over https', async () => {
  const s = setup({ attrs: { 'data-ws': 'wss://sessions.example/ws' } });
  s.post({ glance_invoke: { func: 'stopSession', groupid: '1234' } }, 'https://chat.example');
  await tick();
  assert.equal(s.fetched[0][0], 'https://sessions.example/api/group/1234/trusted');
});

test('showTerms: via invoke, button and keys; default UI confirms before starting', async () => {
  const s = setup({ attrs: { 'data-inputevents': '{"ctrl-13":"startSession","shift-13":"showTerms","ctrl-shift-83":"stopSession"}' } });
  await s.C.Loader.ready;
  s.post({ glance_invoke: { func: 'showTerms', args: { sessionKey: '12121212' }, groupid: '1234' } }, 'https://chat.example');
  await tick();
  assert.deepEqual(s.calls, [['startSession', '{"sessionKey":"12121212"}']]);
  const key = (keyCode, m = {}) => {
    let prevented = false;
    for (const f of s.on.keydown) f({ keyCode, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...m, preventDefault: () => { prevented = true; } });
    return prevented;
  };
  assert.equal(key(13), false, 'plain Enter is the page\'s');
  assert.equal(key(13, { ctrlKey: true, altKey: true }), false, 'extra modifier: no match');
  assert.equal(key(13, { ctrlKey: true }), true);
  assert.equal(key(13, { shiftKey: true }), true);
  assert.equal(key(83, { ctrlKey: true, shiftKey: true }), true);
  assert.deepEqual(s.calls.slice(1), [['startSession', '{}'], ['startSession', '{}'], ['stopSession']]);
  const click = (v) => s.on.click[0]({ target: { closest: () => ({ getAttribute: () => v }) } });
  click('showTerms'); click('startSession'); click('bogus');
  assert.deepEqual(s.calls.slice(4), [['startSession', '{}'], ['startSession', '{}']]);
  assert.match(s.logs.warn.at(-1), /data-glancebutton="bogus" ignored/);
});

test('declining the default terms prompt starts nothing; a custom VisitorUI.showTerms is used', async () => {
  const s = setup({ confirm: false });
  await s.C.Loader.ready;
  s.C.VisitorUI.showTerms();
  assert.deepEqual(s.calls, []);
  const seen = [];
  s.C.VisitorUI.showTerms = (p) => seen.push(p);
  s.on.click[0]({ target: { closest: () => ({ getAttribute: () => 'showTerms' }) } });
  assert.deepEqual(seen, [undefined]);
  // A throwing custom UI is logged, never thrown into the page's event dispatch.
  s.C.VisitorUI.showTerms = () => { throw new Error('ui broke'); };
  assert.doesNotThrow(() => s.on.click[0]({ target: { closest: () => ({ getAttribute: () => 'showTerms' }) } }));
  assert.match(s.logs.error.at(-1), /showTerms failed/);
});

test('invalid data-inputevents entries are reported, valid ones kept', async () => {
  const s = setup({ attrs: { 'data-inputevents': '{"ctrl-13":"startSession","ctrl-x":"startSession","hyper-13":"showTerms","alt-65":"eval"}' } });
  assert.equal(s.logs.warn.length, 3);
  assert.match(s.logs.warn.join('\n'), /ctrl-x:startSession ignored/);
  assert.match(s.logs.warn.join('\n'), /hyper-13:showTerms ignored/);
  assert.match(s.logs.warn.join('\n'), /alt-65:eval ignored/);
  assert.equal(s.on.keydown.length, 1);
});

test('no data-inputevents: no keydown listener at all', () => {
  assert.equal(setup().on.keydown, undefined);
});

// ---- the helper script ----

function helperWin() {
  const warns = [];
  return { warns, win: { console: { warn: (m) => warns.push(m) }, location: new URL('https://chat.example/c') } };
}

test('InvokeVisitor: init + invoke post glance_invoke to the given origin only', () => {
  const { win, warns } = helperWin();
  const I = install(win);
  assert.equal(win.GLANCE.Cobrowse.InvokeVisitor, I);
  const posted = [];
  const wnd = { postMessage: (m, o) => posted.push([m, o]) };
  I.invoke('startSession');
  assert.match(warns.at(-1), /before a successful init/);
  I.init(wnd, 12345, 'https://shop.example:8443/any/path');
  I.invoke('startSession', { sessionKey: '9999' });
  I.invoke('stopSession');
  assert.deepEqual(posted, [
    [{ glance_invoke: { func: 'startSession', groupid: '12345', args: { sessionKey: '9999' } } }, 'https://shop.example:8443'],
    [{ glance_invoke: { func: 'stopSession', groupid: '12345' } }, 'https://shop.example:8443'],
  ]);
  I.init(wnd, '1', 'shop.example');
  I.invoke('stopSession');
  assert.equal(posted.at(-1)[1], 'https://shop.example', 'a bare host uses this page\'s scheme');
  const n = warns.length;
  I.init(wnd, '1', '*');
  assert.equal(warns.length, n + 1);
  assert.match(warns.at(-1), /"\*"/);
  I.invoke('stopSession');
  assert.equal(posted.at(-1)[1], '*');
});

test('InvokeVisitor: bad init arguments and a throwing window never throw', () => {
  const { win, warns } = helperWin();
  const I = install(win);
  for (const args of [[null, '1', '*'], [{}, '1', '*'], [{ postMessage() {} }, '', '*'], [{ postMessage() {} }, '1', 'javascript:alert(1)'], [{ postMessage() {} }, '1', 'http://[bad']]) {
    assert.doesNotThrow(() => I.init(...args));
    assert.doesNotThrow(() => I.invoke('stopSession'));
  }
  assert.ok(warns.length >= 10);
  I.init({ postMessage() { throw new Error('closed'); } }, '1', 'https://a.example');
  assert.doesNotThrow(() => I.invoke('stopSession'));
  assert.match(warns.at(-1), /failed: closed/);
});

test('InvokeVisitor as a real classic script: defines only window.GLANCE', async () => {
  const { readFileSync } = await import('node:fs');
  const vm = await import('node:vm');
  const file = fileURLToPath(new URL('../glance-cobrowse-invoke-visitor.js', import.meta.url));
  const { win } = helperWin();
  win.document = {};
  const ctx = vm.createContext({ window: win, console: win.console, URL });
  const before = new Set(Object.getOwnPropertyNames(ctx));
  vm.runInContext(readFileSync(file, 'utf8'), ctx, { filename: 'GlanceCobrowseInvokeVisitor.js' });
  assert.deepEqual(Object.getOwnPropertyNames(ctx).filter((k) => !before.has(k)), []);
  assert.deepEqual(Object.keys(win).sort(), ['GLANCE', 'console', 'document', 'location']);
  assert.equal(typeof win.GLANCE.Cobrowse.InvokeVisitor.invoke, 'function');
});
