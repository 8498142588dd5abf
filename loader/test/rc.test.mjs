// Remote control in the loader: `rcrequested`/`confirm` get accept()/decline() (once each, only
// the latest question), the default UI asks with window.confirm when no listener is registered,
// and Visitor.disableRC() reaches the engine. Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const LOADER = fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url));
const { boot } = createRequire(import.meta.url)(LOADER);

function setup(attrs = {}, confirmAnswer = null) {
  const tag = { tagName: 'SCRIPT', src: 'https://cdn.example/cobrowse/GlanceCobrowseLoader.js',
    getAttribute: (n) => ({ id: 'glance-cobrowse', 'data-groupid': '1234', ...attrs })[n] ?? null };
  const asked = [];
  const win = {
    console: { error() {}, warn() {}, log() {} },
    location: new URL('https://shop.example/'),
    localStorage: { getItem: () => null },
    confirm: (text) => { asked.push(text); return confirmAnswer; },
    document: { currentScript: tag, baseURI: 'https://shop.example/', cookie: '',
      getElementById: (id) => (id === 'glance-cobrowse' ? tag : null), addEventListener() {} },
    addEventListener() {},
  };
  const calls = [];
  const mod = {
    default: async () => {},
    Engine: class {
      constructor(_c, emit) { this.emit = emit; }
      rcAnswer(ok) { calls.push(['rcAnswer', ok]); }
      navAnswer(ok) { calls.push(['navAnswer', ok]); }
      disableRC() { calls.push(['disableRC']); }
    },
  };
  const C = boot(win, async () => mod);
  return { C, V: C.Visitor, calls, asked };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

test('rcrequested: accept() answers once; a later question voids the earlier callbacks', async () => {
  const { C, V, calls, asked } = setup();
  const got = [];
  V.addEventListener('rcrequested', (p) => got.push(p));
  const eng = await C.Loader.ready;
  eng.emit('rcrequested', { agent: { username: 'agnes', name: 'Agnes Agent', num: 1 } });
  assert.equal(got.length, 1);
  assert.equal(typeof got[0].accept, 'function');
  assert.equal(typeof got[0].decline, 'function');
  assert.equal(got[0].agent.name, 'Agnes Agent');
  got[0].accept();
  got[0].accept();
  got[0].decline();
  assert.deepEqual(calls, [['rcAnswer', true]]);
  eng.emit('rcrequested', {});
  eng.emit('rcrequested', {});
  got[1].decline(); // superseded by the third question
  got[2].decline();
  assert.deepEqual(calls, [['rcAnswer', true], ['rcAnswer', false]]);
  await tick();
  assert.deepEqual(asked, [], 'a listener is registered: no default dialog');
});

test('default UI: window.confirm asks when nobody listens (accepted, then declined)', async () => {
  const yes = setup({}, true);
  const eng = await yes.C.Loader.ready;
  eng.emit('rcrequested', { agent: { name: 'Agnes Agent' } });
  await tick();
  assert.equal(yes.asked.length, 1);
  assert.match(yes.asked[0], /Agnes Agent/);
  assert.deepEqual(yes.calls, [['rcAnswer', true]]);
  eng.emit('confirm', { url: 'page2.html', confirm: true });
  await tick();
  assert.match(yes.asked[1], /page2\.html/);
  assert.deepEqual(yes.calls.at(-1), ['navAnswer', true]);

  const no = setup({}, false);
  const e2 = await no.C.Loader.ready;
  e2.emit('rcrequested', {});
  await tick();
  assert.deepEqual(no.calls, [['rcAnswer', false]]);
});

test('data-ui="custom": no default dialog, the page answers', async () => {
  const { C, calls, asked } = setup({ 'data-ui': 'custom' }, true);
  const eng = await C.Loader.ready;
  eng.emit('rcrequested', {});
  await tick();
  assert.deepEqual(asked, []);
  assert.deepEqual(calls, []);
});

test('confirm: accept() and decline() reach navAnswer once; disableRC() is queued until ready', async () => {
  const { C, V, calls } = setup();
  const got = [];
  V.addEventListener('confirm', (p) => got.push(p));
  V.disableRC();
  const eng = await C.Loader.ready;
  assert.deepEqual(calls, [['disableRC']]);
  eng.emit('confirm', { url: 'https://shop.example/b', confirm: true, open: false, link: false });
  assert.equal(got[0].url, 'https://shop.example/b');
  got[0].decline();
  got[0].accept();
  assert.deepEqual(calls, [['disableRC'], ['navAnswer', false]]);
});
