// The default visitor UI as far as it can be checked without a browser: texts merging, language
// choice, placeholder filling, what an announcement may say, and the loader's side (the UI module
// is imported only when needed, never with data-ui="custom"; setUIReady() holds events; the
// module's failure falls back to the browser's confirm; nodes are marked hidden before the engine
// exists). Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { pickLang, langChain, mergeTexts, fill, describe } from '../glance-cobrowse-ui.js';

const LOADER = fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url));
const { boot } = createRequire(import.meta.url)(LOADER);
const SKINS = new URL('../../skins/', import.meta.url);
const tick = () => new Promise((r) => setTimeout(r, 5));

test('language: data-lang, then <html lang>, then navigator.language, then en; bad tags skipped', () => {
  assert.equal(pickLang('fr', 'de', 'es-ES'), 'fr');
  assert.equal(pickLang(null, 'de-AT', 'es-ES'), 'de-at');
  assert.equal(pickLang('', '', 'pt_BR'), 'pt-br');
  assert.equal(pickLang('../../etc', '<x>', undefined), 'en');
  assert.equal(pickLang(null, null, null), 'en');
  assert.deepEqual(langChain('en'), ['en']);
  assert.deepEqual(langChain('fr'), ['en', 'fr']);
  assert.deepEqual(langChain('fr-ca'), ['en', 'fr', 'fr-ca']);
  assert.deepEqual(langChain('en-gb'), ['en', 'en-gb']);
});

test('texts: later layers win, only strings count, broken layers (null, arrays) are ignored', () => {
  const t = mergeTexts({ a: 'A', b: 'B', n: 1 }, null, ['x'], 'str', { b: 'B2', c: 'C', d: { x: 1 } }, { c: 'C3' });
  assert.deepEqual(t, { a: 'A', b: 'B2', c: 'C3' });
  assert.equal(fill('{name} points to: {target} {missing}', { name: 'Agnes', target: 'Pay' }), 'Agnes points to: Pay {missing}');
  assert.equal(fill(undefined, {}), '');
});

test('shipped texts: every language has every English key; the example group skin overrides a few', () => {
  const en = JSON.parse(readFileSync(new URL('texts.en.json', SKINS)));
  const fr = JSON.parse(readFileSync(new URL('texts.fr.json', SKINS)));
  assert.deepEqual(Object.keys(fr).sort(), Object.keys(en).sort());
  for (const k of Object.keys(en)) {
    const ph = (s) => (s.match(/\{\w+\}/g) || []).sort().join();
    assert.equal(ph(fr[k]), ph(en[k]), 'placeholders of ' + k);
  }
  const g = JSON.parse(readFileSync(new URL('groups/5678/staging/texts.en.json', SKINS)));
  const merged = mergeTexts(en, g);
  assert.equal(merged.buttonLabel, 'Screen share');
  assert.equal(merged.endSession, en.endSession);
  const css = readFileSync(new URL('default.css', SKINS), 'utf8');
  assert.match(css, /prefers-reduced-motion/);
  assert.match(css, /forced-colors/);
  // Positioning uses one id, so a skin's `#glance_cobrowse_btn {...}` (same specificity, later) wins.
  assert.match(css, /\n#glance_cobrowse_btn \{\n  position: fixed;\n  right: 16px;\n  bottom: 16px;/);
});

// A tiny element model for describe(): enough for names, labels, text and masking.
function E(tag, attrs = {}, kids = [], extra = {}) {
  const e = { nodeType: 1, localName: tag, attrs, ...extra, getAttribute: (n) => (n in attrs ? attrs[n] : null) };
  e.childNodes = kids.map((k) => (typeof k == 'string' ? { nodeType: 3, data: k } : k));
  e.childNodes.forEach((c, i) => { c.nextSibling = e.childNodes[i + 1] || null; });
  e.firstChild = e.childNodes[0] || null;
  return e;
}

test('describe: accessible name or text, never a field value, never masked content', () => {
  const masked = new Set();
  const m = (el) => masked.has(el);
  assert.equal(describe(E('button', { 'aria-label': 'Pay now' }, ['$']), m), 'Pay now');
  assert.equal(describe(E('a', {}, ['  Checkout ', E('b', {}, ['today'])]), m), 'Checkout today');
  const secret = E('span', { class: 'glance_masked' }, ['4111 1111']);
  masked.add(secret);
  assert.equal(describe(E('p', {}, ['Card: ', secret, ' on file']), m), 'Card: on file');
  assert.equal(describe(secret, m), '', 'a masked element is not described');
  const input = E('input', { value: 'secret value', placeholder: 'Email' }, [], { labels: [E('label', {}, ['Your email'])] });
  assert.equal(describe(input, m), 'Your email');
  assert.equal(describe(E('input', { value: 'typed' }), m), '', 'no label: nothing, not the value');
  assert.equal(describe(E('img', { alt: 'Logo' }), m), 'Logo');
  assert.equal(describe(E('div', {}, ['x'.repeat(300)]), m).length, 120);
  assert.equal(describe(null, m), '');
  assert.equal(describe(E('p', {}, ['hi']), () => true), '');
});

// ---- the loader's side ----
function setup(attrs = {}, { uiModule = null, confirmAnswer = true, gate = null } = {}) {
  const tag = { tagName: 'SCRIPT', src: 'https://cdn.example/cobrowse/GlanceCobrowseLoader.js',
    getAttribute: (n) => ({ id: 'glance-cobrowse', 'data-groupid': '1234', ...attrs })[n] ?? null };
  const asked = [], warned = [], imported = [], calls = [], hidden = [];
  const win = {
    console: { error() {}, warn: (m) => warned.push(String(m)), log() {} },
    location: new URL('https://shop.example/'),
    localStorage: { getItem: () => null },
    confirm: (text) => { asked.push(text); return confirmAnswer; },
    document: { currentScript: tag, baseURI: 'https://shop.example/', cookie: '',
      getElementById: (id) => (id === 'glance-cobrowse' ? tag : null), addEventListener() {} },
    addEventListener() {},
  };
  let constructed = false;
  const mod = {
    default: async () => { if (gate) await gate; },
    Engine: class {
      static hideNode(n) { hidden.push([n, constructed]); }
      static maskedNode() { return false; }
      constructor(_c, emit) { this.emit = emit; constructed = true; }
      rcAnswer(ok) { calls.push(['rcAnswer', ok]); }
      navAnswer(ok) { calls.push(['navAnswer', ok]); }
      startSession(p) { calls.push(['startSession', p]); }
      getSessionState() { return null; }
    },
  };
  const importer = async (url) => {
    imported.push(url);
    if (/GlanceCobrowseUI\.js$/.test(url)) {
      if (!uiModule) throw new Error('404');
      return uiModule;
    }
    return mod;
  };
  const C = boot(win, importer);
  return { C, V: C.Visitor, calls, asked, warned, imported, hidden, win };
}

// A stand-in UI module that records what the loader gives it.
function fakeUI() {
  const got = { events: [], calls: [], ctx: null };
  return {
    got,
    mount(ctx) {
      got.ctx = ctx;
      return {
        event: (n, p, l) => got.events.push([n, p, l]),
        showTerms: (p) => got.calls.push(['showTerms', p]),
        promptCrossDomain: (p) => got.calls.push(['promptCrossDomain', p]),
      };
    },
  };
}

test('default UI: imported on the first session event only, gets the events in order, and answers questions', async () => {
  const ui = fakeUI();
  const s = setup({}, { uiModule: ui });
  const eng = await s.C.Loader.ready;
  eng.emit('agents', { count: 0 }); // nothing shown: no UI needed yet
  await tick();
  assert.deepEqual(s.imported, ['https://cdn.example/cobrowse/glance_cobrowse.js']);
  eng.emit('sessionstart', { sessionKey: '123456' });
  eng.emit('rcrequested', { agent: { name: 'Agnes' } });
  await tick();
  assert.deepEqual(s.imported.slice(1), ['https://cdn.example/cobrowse/GlanceCobrowseUI.js']);
  assert.deepEqual(ui.got.events.map((e) => e[0]), ['sessionstart', 'rcrequested']);
  assert.equal(ui.got.ctx.skins, 'https://cdn.example/cobrowse/skins/');
  const rc = ui.got.events[1];
  assert.equal(rc[2], false, 'the page registered no listener');
  rc[1].accept();
  assert.deepEqual(s.calls, [['rcAnswer', true]]);
  assert.deepEqual(s.asked, [], 'no window.confirm with the UI module');
  eng.emit('sessionend', { reason: 'visitor' });
  assert.equal(ui.got.events.at(-1)[0], 'sessionend');
  s.C.VisitorUI.showTerms({ sessionKey: 'abc' });
  assert.deepEqual(ui.got.calls, [['showTerms', { sessionKey: 'abc' }]]);
  // A page listener: the UI is told, so it does not ask too.
  s.V.addEventListener('confirm', () => {});
  eng.emit('confirm', { url: '/b' });
  assert.equal(ui.got.events.at(-1)[2], true);
});

test('hideNode: a node the UI hands over before the wasm is in is marked before the engine exists', async () => {
  const ui = fakeUI();
  let open;
  const s = setup({}, { uiModule: ui, gate: new Promise((r) => { open = r; }) });
  s.C.VisitorUI.showTerms({}); // loads the UI module at once (before the engine is ready)
  await tick();
  assert.ok(ui.got.ctx, 'mounted');
  const node = { nodeType: 1 };
  const done = ui.got.ctx.hide(node);
  assert.deepEqual(s.hidden, [], 'the wasm is not in yet');
  open();
  await s.C.Loader.ready;
  await done;
  assert.deepEqual(s.hidden, [[node, false]]);
  const later = { nodeType: 1 };
  ui.got.ctx.hide(later);
  assert.deepEqual(s.hidden[1], [later, true], 'after load: marked at once');
  assert.equal(ui.got.ctx.masked({}), false);
});

test('UI module missing: the browser confirm asks instead (questions and showTerms), with one warning', async () => {
  const s = setup({}, { uiModule: null, confirmAnswer: true });
  const eng = await s.C.Loader.ready;
  eng.emit('rcrequested', { agent: { name: 'Agnes Agent' } });
  await tick(); await tick();
  assert.equal(s.asked.length, 1);
  assert.match(s.asked[0], /Agnes Agent/);
  assert.deepEqual(s.calls, [['rcAnswer', true]]);
  s.C.VisitorUI.showTerms({});
  assert.equal(s.asked.length, 2);
  assert.equal(s.calls.at(-1)[0], 'startSession');
  assert.equal(s.warned.filter((w) => /visitor UI unavailable/.test(w)).length, 1);
});

test('data-ui="custom": nothing but the engine is loaded, no dialog, events wait for setUIReady()', async () => {
  for (const ui of ['custom', 'omit']) {
    const s = setup({ 'data-ui': ui }, { uiModule: fakeUI() });
    assert.equal(s.C.Loader.config.ui, 'custom');
    const eng = await s.C.Loader.ready;
    const got = [];
    s.V.addEventListener('sessioncontinue', (p) => got.push(p.sessionKey));
    eng.emit('sessioncontinue', { sessionKey: '42' });
    eng.emit('rcrequested', {});
    s.C.VisitorUI.showTerms({});
    await tick();
    assert.deepEqual(got, [], 'held until setUIReady');
    s.V.setUIReady();
    assert.deepEqual(got, ['42']);
    s.V.setUIReady(); // again: nothing
    eng.emit('sessioncontinue', { sessionKey: '43' });
    assert.deepEqual(got, ['42', '43']);
    await tick();
    assert.deepEqual(s.imported, ['https://cdn.example/cobrowse/glance_cobrowse.js'], ui + ': no UI module');
    assert.equal(s.asked.length, 1, ui + ': only showTerms (the plain prompt) asks, never an event');
  }
});
