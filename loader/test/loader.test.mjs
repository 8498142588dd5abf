// Tests for loader/glance-cobrowse-loader.js in a minimal fake DOM. No npm dependencies.
// Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const LOADER = fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url));
const { boot } = createRequire(import.meta.url)(LOADER);

function el(tagName, attrs = {}, src) {
  return {
    tagName,
    src: src || '',
    getAttribute(n) { return Object.prototype.hasOwnProperty.call(attrs, n) ? attrs[n] : null; },
  };
}

function fakeConsole() {
  const logs = { error: [], warn: [], log: [] };
  const c = {};
  for (const k of Object.keys(logs)) c[k] = (...a) => logs[k].push(a.map(String).join(' '));
  return { c, logs };
}

// Builds a fake window. `elements` maps id -> element; `current` is document.currentScript.
function fakeWindow({ elements = {}, current = null, cookie = '', storage = {}, pageUrl = 'https://shop.example/demo/index.html' } = {}) {
  const { c, logs } = fakeConsole();
  const clickHandlers = [];
  const listeners = {};
  const win = {
    console: c,
    location: new URL(pageUrl),
    localStorage: { getItem: (k) => (k in storage ? storage[k] : null) },
    document: {
      currentScript: current,
      baseURI: pageUrl,
      cookie,
      getElementById: (id) => elements[id] || null,
      querySelector: () => null,
      addEventListener: (t, f) => { if (t === 'click') clickHandlers.push(f); (listeners[t] ||= []).push(f); },
    },
  };
  return { win, logs, clickHandlers, listeners };
}

const LOADER_URL = 'https://cdn.example:8443/glance/cobrowse/GlanceCobrowseLoader.js';

function scriptTag(attrs, src = LOADER_URL) {
  return el('SCRIPT', { id: 'glance-cobrowse', ...attrs }, src);
}

// An importer that records requested URLs and hands out a fake engine module.
function fakeModule(onEngine) {
  const imported = [];
  const inits = [];
  const calls = [];
  const mod = {
    default: async (opts) => { inits.push(opts); },
    Engine: class {
      constructor(configJson, emit) {
        this.configJson = configJson;
        this.emit = emit;
        calls.push(['new', JSON.parse(configJson)]);
        if (onEngine) onEngine(this);
      }
      startSession(p) { calls.push(['startSession', p]); }
      stopSession() { calls.push(['stopSession']); }
      pause(b) { calls.push(['pause', b]); }
      inSession() { calls.push(['inSession']); return true; }
      getSessionState() { return { sessionKey: 'ABC123' }; }
      sendSessionMessage(n, j) { calls.push(['sendSessionMessage', n, j]); }
      setUserState(n, j) { calls.push(['setUserState', n, j]); }
      getUserState(n) { calls.push(['getUserState', n]); return n === 'k' ? 7 : undefined; }
    },
  };
  const importer = async (url) => { imported.push(url); return mod; };
  return { importer, imported, inits, calls, mod };
}

test('script tag: every attribute is parsed into the typed config', async () => {
  const tag = scriptTag({
    'data-groupid': ' 1234 ', 'data-site': 'staging', 'data-ws': 'ws.example:9000',
    'data-scriptserver': 'https://scripts.example/base/', 'data-cookietype': 'DUAL',
    'data-cookiedomain': 'abcco.azurewebsites.net', 'data-startpaused': '1', 'data-ui': 'custom',
    'data-video': 'small', 'data-visitorid': 'V42', 'data-presence': 'api',
    'data-additionalgroupids': '59923, 50920,,', 'data-inputevents': '{"ctrl-13":"startSession","shift-13":"showTerms"}',
    'data-slicems': '12.5', 'data-lang': 'fr-CA',
  });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  const C = boot(win, f.importer);
  assert.deepEqual(C.Loader.config, {
    groupid: '1234', site: 'staging', ws: 'ws.example:9000', scriptserver: 'https://scripts.example/base',
    cookietype: 'dual', cookiedomain: 'abcco.azurewebsites.net', startpaused: true, ui: 'custom', video: 'small',
    visitorid: 'V42', presence: 'api', presenceinterval: null, additionalgroupids: ['59923', '50920'],
    inputevents: { 'ctrl-13': 'startSession', 'shift-13': 'showTerms' }, slicems: 12.5, lang: 'fr-CA',
  });
  await C.Loader.ready;
  assert.deepEqual(f.imported, ['https://scripts.example/base/glance_cobrowse.js']);
  assert.deepEqual(f.inits, [{ module_or_path: 'https://scripts.example/base/glance_cobrowse_bg.wasm' }]);
  // The engine receives exactly the config as JSON.
  assert.deepEqual(f.calls[0], ['new', C.Loader.config]);
  assert.equal(win.GLANCE.Cobrowse, C);
  assert.deepEqual(logs.error, []);
});

test('defaults: site, ws and scriptserver derive from the loader URL', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const C = boot(win, fakeModule().importer);
  assert.deepEqual(C.Loader.config, {
    groupid: '1234', site: 'production', ws: 'cdn.example:8443', scriptserver: 'https://cdn.example:8443/glance/cobrowse',
    cookietype: 'normal', cookiedomain: null, startpaused: false, ui: 'default', video: null, visitorid: null,
    presence: null, presenceinterval: null, additionalgroupids: [], inputevents: {}, slicems: null, lang: null,
  });
  await C.Loader.ready;
  assert.deepEqual(logs.error, []);
});

test('scriptserver given as a bare host name or a root path', () => {
  for (const [v, want] of [['myscripts.example/scripts', 'https://myscripts.example/scripts'], ['/static/cb/', 'https://shop.example/static/cb']]) {
    const tag = scriptTag({ 'data-groupid': '1', 'data-scriptserver': v });
    const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
    assert.equal(boot(win, fakeModule().importer).Loader.config.scriptserver, want);
  }
});

test('meta tag form: attributes from <meta id=glance-cobrowse>, URL from <script id=cobrowsescript>', async () => {
  const meta = el('META', { id: 'glance-cobrowse', 'data-groupid': '777', 'data-site': 'staging', 'data-startpaused': '1' });
  const script = el('SCRIPT', { id: 'cobrowsescript' }, 'http://127.0.0.1:8080/cobrowse/GlanceCobrowseLoader.js');
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': meta, cobrowsescript: script }, current: script });
  const f = fakeModule();
  const C = boot(win, f.importer);
  const c = C.Loader.config;
  assert.equal(c.groupid, '777');
  assert.equal(c.site, 'staging');
  assert.equal(c.startpaused, true);
  assert.equal(c.ws, '127.0.0.1:8080');
  assert.equal(c.scriptserver, 'http://127.0.0.1:8080/cobrowse');
  await C.Loader.ready;
  assert.deepEqual(f.imported, ['http://127.0.0.1:8080/cobrowse/glance_cobrowse.js']);
});

test('dynamically inserted script (document.currentScript null) falls back to getElementById', () => {
  const tag = scriptTag({ 'data-groupid': '55' }, 'http://h.example/cobrowse/GlanceCobrowseLoader.js');
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: null });
  const c = boot(win, fakeModule().importer).Loader.config;
  assert.equal(c.groupid, '55');
  assert.equal(c.ws, 'h.example');
  assert.equal(c.scriptserver, 'http://h.example/cobrowse');
});

test('meta form with currentScript null also works', () => {
  const meta = el('META', { id: 'glance-cobrowse', 'data-groupid': '9' });
  const script = el('SCRIPT', { id: 'cobrowsescript' }, 'http://x.example/a/cobrowse/L.js');
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': meta, cobrowsescript: script } });
  const c = boot(win, fakeModule().importer).Loader.config;
  assert.equal(c.groupid, '9');
  assert.equal(c.scriptserver, 'http://x.example/a/cobrowse');
});

test('missing data-groupid: console error and no import at all', async () => {
  const tag = scriptTag({ 'data-site': 'staging' });
  const { win, logs, clickHandlers } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  const C = boot(win, f.importer);
  assert.equal(await C.Loader.ready, null);
  assert.equal(logs.error.length, 1);
  assert.match(logs.error[0], /data-groupid missing/);
  assert.deepEqual(f.imported, []);
  assert.equal(clickHandlers.length, 0);
  assert.equal(C.Visitor.inSession(), false);
  assert.doesNotThrow(() => C.Visitor.startSession('1'));
  assert.equal(logs.error.length, 1);
});

test('meta tag placed after the script: data-groupid missing', () => {
  const script = el('SCRIPT', { id: 'cobrowsescript' }, LOADER_URL);
  const { win, logs } = fakeWindow({ elements: { cobrowsescript: script }, current: script });
  const f = fakeModule();
  boot(win, f.importer);
  assert.match(logs.error.join('\n'), /data-groupid missing/);
  assert.deepEqual(f.imported, []);
});

test('malformed data-inputevents: clear console.error about quotes, {} used, no exception', async () => {
  // What a page gets with double quotes outside: the attribute value is cut at the first inner quote.
  for (const bad of ['{', "{'ctrl-13':'startSession'}", '["x"]']) {
    const tag = scriptTag({ 'data-groupid': '1234', 'data-inputevents': bad });
    const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
    let C;
    assert.doesNotThrow(() => { C = boot(win, fakeModule().importer); });
    assert.deepEqual(C.Loader.config.inputevents, {});
    assert.equal(logs.error.length, 1, bad);
    assert.match(logs.error[0], /data-inputevents/);
    assert.match(logs.error[0], /single quotes/);
    assert.match(logs.error[0], /double quotes/);
    assert.ok(await C.Loader.ready, 'engine still loads');
  }
});

test('invalid data-cookietype: console.error and default normal', () => {
  const tag = scriptTag({ 'data-groupid': '1234', 'data-cookietype': 'chocolate' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const C = boot(win, fakeModule().importer);
  assert.equal(C.Loader.config.cookietype, 'normal');
  assert.match(logs.error.join('\n'), /data-cookietype "chocolate"/);
});

test('calls before ready are queued and replayed in order; session params normalised', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  const C = boot(win, f.importer);
  const V = C.Visitor;
  assert.equal(V.getSessionState(), null);
  V.startSession();
  V.startSession('KEY1');
  V.startSession({ sessionKey: 'KEY2' });
  V.startSession({ sessionKey: 1234 });
  V.pause(true);
  V.pause(false);
  V.stopSession();
  assert.equal(f.calls.length, 0, 'nothing reaches an engine before it exists');
  const eng = await C.Loader.ready;
  assert.ok(eng);
  assert.deepEqual(f.calls.slice(1), [
    ['startSession', '{}'], ['startSession', '{"sessionKey":"KEY1"}'], ['startSession', '{"sessionKey":"KEY2"}'],
    ['startSession', '{"sessionKey":"1234"}'], ['pause', true], ['pause', false], ['stopSession'],
  ]);
  // After ready: direct calls, and queries go to the engine.
  V.stopSession();
  assert.deepEqual(f.calls.at(-1), ['stopSession']);
  assert.equal(V.inSession(), true);
  assert.deepEqual(V.getSessionState(), { sessionKey: 'ABC123' });
});

test('inSession before ready answers from the session cookie / localStorage', () => {
  const mk = (opts) => {
    const tag = scriptTag({ 'data-groupid': '1' });
    const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag, ...opts });
    return boot(win, () => new Promise(() => {})).Visitor; // engine never arrives
  };
  assert.equal(mk({}).inSession(), false);
  assert.equal(mk({ cookie: 'a=1; glance_ssn_info=xyz; b=2' }).inSession(), true);
  assert.equal(mk({ cookie: 'not_glance_ssn_info=xyz' }).inSession(), false);
  assert.equal(mk({ storage: { glance_ssn_info: '{"k":1}' } }).inSession(), true);
});

test('listeners: all called, throwing ones are logged and never reach the engine; remove works', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  const C = boot(win, f.importer);
  const V = C.Visitor;
  const seen = [];
  const a = (p) => seen.push(['a', p]);
  const bad = () => { throw new Error('boom'); };
  const b = (p) => seen.push(['b', p]);
  V.addEventListener('sessionstart', a);
  V.addEventListener('sessionstart', a); // duplicate ignored
  V.addEventListener('sessionstart', bad);
  V.addEventListener('sessionstart', b);
  const eng = await C.Loader.ready;
  assert.doesNotThrow(() => eng.emit('sessionstart', { sessionKey: 'K' }));
  assert.deepEqual(seen, [['a', { sessionKey: 'K' }], ['b', { sessionKey: 'K' }]]);
  assert.equal(logs.error.length, 1);
  assert.match(logs.error[0], /sessionstart/);
  V.removeEventListener('sessionstart', a);
  eng.emit('sessionstart', 1);
  assert.deepEqual(seen.at(-1), ['b', 1]);
  assert.equal(seen.length, 3);
  assert.doesNotThrow(() => eng.emit('nobody-listens', {}));
  // Names that collide with Object.prototype members behave like any other name.
  const got = [];
  for (const n of ['toString', '__proto__', 'constructor']) {
    assert.doesNotThrow(() => V.addEventListener(n, (p) => got.push(n + p)));
    eng.emit(n, 1);
  }
  assert.deepEqual(got, ['toString1', '__proto__1', 'constructor1']);
});

test('engine constructor throwing: error event {code: service}, ready resolves null, calls dropped', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule(() => { throw new Error('bad config'); });
  const C = boot(win, f.importer);
  const errors = [];
  C.Visitor.addEventListener('error', (e) => errors.push(e));
  C.Visitor.startSession();
  assert.equal(await C.Loader.ready, null);
  assert.deepEqual(errors, [{ code: 'service', msg: 'bad config' }]);
  assert.equal(C.Visitor.inSession(), false);
  assert.match(logs.warn.join('\n'), /1 queued call/);
});

test('events emitted during engine construction are delivered after it exists', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule((eng) => eng.emit('sessioncontinue', { sessionKey: 'ABC123' }));
  const C = boot(win, f.importer);
  let stateInListener;
  C.Visitor.addEventListener('sessioncontinue', () => { stateInListener = C.Visitor.getSessionState(); });
  await C.Loader.ready;
  assert.deepEqual(stateInListener, { sessionKey: 'ABC123' });
});

test('engine method exception becomes an error event {code: service}', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule((eng) => { eng.startSession = () => { throw new Error('bad key'); }; });
  const C = boot(win, f.importer);
  const errors = [];
  C.Visitor.addEventListener('error', (e) => errors.push(e));
  C.Visitor.startSession('x'); // queued, replayed, throws inside the engine
  await C.Loader.ready;
  assert.deepEqual(errors, [{ code: 'service', msg: 'bad key' }]);
  assert.doesNotThrow(() => C.Visitor.startSession('y'));
  assert.equal(errors.length, 2);
});

test('load failure: SCRIPT_NOT_LOADED event, queued calls dropped with a warning, inSession false', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag, cookie: 'glance_ssn_info=1' });
  const importer = async () => ({
    default: async () => { throw new Error('CompileError: wasm-unsafe-eval'); },
    Engine: class { constructor() { throw new Error('must not be constructed'); } },
  });
  const C = boot(win, importer);
  const errors = [];
  C.Visitor.addEventListener('error', (e) => errors.push(e));
  C.Visitor.startSession('K');
  assert.equal(C.Visitor.inSession(), true, 'cookie says a session is live while loading');
  assert.equal(await C.Loader.ready, null);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'SCRIPT_NOT_LOADED');
  assert.match(errors[0].msg, /wasm-unsafe-eval/);
  assert.deepEqual(errors[0].params, { script: 'https://cdn.example:8443/glance/cobrowse/glance_cobrowse_bg.wasm' });
  assert.match(logs.warn.join('\n'), /1 queued call/);
  assert.equal(C.Visitor.inSession(), false);
  assert.equal(C.Visitor.getSessionState(), null);
  C.Visitor.stopSession();
  assert.match(logs.warn.at(-1), /stopSession\(\) ignored/);
});

test('glue import failure names the glue script', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const C = boot(win, () => { throw new Error('404'); }); // even a synchronous throw is caught
  const errors = [];
  C.Visitor.addEventListener('error', (e) => errors.push(e));
  await C.Loader.ready;
  assert.deepEqual(errors, [{ code: 'SCRIPT_NOT_LOADED', msg: '404', params: { script: 'https://cdn.example:8443/glance/cobrowse/glance_cobrowse.js' } }]);
});

test('data-glancebutton="startSession" click starts a session', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, clickHandlers } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  boot(win, f.importer);
  await win.GLANCE.Cobrowse.Loader.ready;
  const button = el('BUTTON', { 'data-glancebutton': 'startSession' });
  // The button listener, then the cross-domain link listener (capture phase).
  assert.equal(clickHandlers.length, 2);
  clickHandlers[0]({ target: { closest: () => button } });
  clickHandlers[0]({ target: { closest: () => null } });
  assert.deepEqual(f.calls.slice(1), [['startSession', '{}']]);
});

test('loader twice on a page: the second copy does nothing', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const f = fakeModule();
  const C1 = boot(win, f.importer);
  const C2 = boot(win, f.importer);
  assert.equal(C1, C2);
  await C1.Loader.ready;
  assert.equal(f.imported.length, 1);
  assert.match(logs.warn.join('\n'), /twice/);
});

test('as a real classic script: defines only window.GLANCE, failed import is reported, nothing escapes', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' }, 'http://127.0.0.1:1/cobrowse/GlanceCobrowseLoader.js');
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  const ctx = vm.createContext({ window: win, console: win.console, URL, JSON, Promise });
  const before = new Set(Object.getOwnPropertyNames(ctx));
  const winKeysBefore = new Set(Object.keys(win));
  // Without an importModuleDynamically hook, vm rejects import() – a stand-in for a 404 / CSP failure.
  vm.runInContext(readFileSync(LOADER, 'utf8'), ctx, { filename: 'GlanceCobrowseLoader.js' });
  const added = Object.getOwnPropertyNames(ctx).filter((k) => !before.has(k));
  assert.deepEqual(added, []);
  assert.deepEqual(Object.keys(win).filter((k) => !winKeysBefore.has(k)), ['GLANCE']);
  const C = win.GLANCE.Cobrowse;
  const errors = [];
  C.Visitor.addEventListener('error', (e) => errors.push(e));
  assert.equal(await C.Loader.ready, null);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'SCRIPT_NOT_LOADED');
  assert.equal(errors[0].params.script, 'http://127.0.0.1:1/cobrowse/glance_cobrowse.js');
  assert.match(logs.error.join('\n'), /could not load/);
});

test('a loader in a document still parsing starts the engine at DOMContentLoaded', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, listeners } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  win.document.readyState = 'loading';
  const f = fakeModule();
  const C = boot(win, f.importer);
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(f.inits.length, 1, 'the wasm loads at once');
  assert.deepEqual(f.calls, [], 'no engine while the page parses (its listeners may not exist yet)');
  win.document.readyState = 'interactive';
  for (const fn of listeners.DOMContentLoaded || []) fn();
  assert.ok(await C.Loader.ready, 'ready resolves to the engine');
  assert.equal(f.calls[0][0], 'new');
});

test('session messages and user state: JSON for the engine, queued before it loads, errors as events', async () => {
  const tag = scriptTag({ 'data-groupid': '1234' });
  const { win, logs } = fakeWindow({ elements: { 'glance-cobrowse': tag }, current: tag });
  let eng;
  const f = fakeModule((e) => { eng = e; });
  const C = boot(win, f.importer);
  const V = C.Visitor;
  const errors = [];
  V.addEventListener('error', (e) => errors.push(e));
  assert.equal(V.getUserState('k'), undefined, 'no engine yet');
  V.sendSessionMessage('early', { a: 1 });
  V.setUserState('step', 'cart');
  V.setUserState('gone', undefined);
  V.sendSessionMessage('nothing');
  const cyclic = {}; cyclic.self = cyclic;
  V.sendSessionMessage('cyclic', cyclic);
  assert.equal(errors.length, 1, 'a cycle is reported at once');
  assert.equal(errors[0].code, 'badparams');
  assert.match(errors[0].msg, /sendSessionMessage\("cyclic"\)/);
  await C.Loader.ready;
  assert.deepEqual(f.calls.slice(1), [
    ['sendSessionMessage', 'early', '{"a":1}'],
    ['setUserState', 'step', '"cart"'],
    ['setUserState', 'gone', 'null'],
    ['sendSessionMessage', 'nothing', ''],
  ]);
  assert.equal(V.getUserState('k'), 7);
  // `sessionmessage` events go to the listeners of that name as (name, msg); a throwing one is logged.
  const got = [];
  const h = (n, m) => got.push([n, m]);
  V.addSessionMessageListener('hello', () => { throw new Error('bug'); });
  V.addSessionMessageListener('hello', h);
  V.addSessionMessageListener('other', () => got.push('wrong'));
  eng.emit('sessionmessage', { name: 'hello', data: { foo: 123 } });
  assert.deepEqual(got, [['hello', { foo: 123 }]]);
  assert.equal(logs.error.length, 1);
  assert.match(logs.error[0], /listener for "hello" threw/);
  V.removeSessionMessageListener('hello', h);
  eng.emit('sessionmessage', { name: 'hello', data: {} });
  assert.equal(got.length, 1);
});
