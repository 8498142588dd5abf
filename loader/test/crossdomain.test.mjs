// Cross-domain hand-off in the loader: the fragment token is removed from the URL and history before
// anything else and redeemed; helper mode (?GlanceSession=1); links to trusted domains carry the
// session over once; crossDomain() with untrusted urls and blocked popups. Fake DOM, no npm deps.
// Run: node --test loader/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const { boot } = createRequire(import.meta.url)(fileURLToPath(new URL('../glance-cobrowse-loader.js', import.meta.url)));
const tick = async (n = 20) => { for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); };
const TOKEN = '0123456789abcdef0123456789abcdef';
const SESSION = 'v1.ABC.00ff.1234.0';

function setup({ page = 'https://b.example/p.html', attrs = {}, cookie = '', inSession = false, api = {}, open = () => null } = {}) {
  const logs = { error: [], warn: [] };
  const con = { error: (...a) => logs.error.push(a.join(' ')), warn: (...a) => logs.warn.push(a.join(' ')), log() {} };
  const tag = { tagName: 'SCRIPT', src: 'https://cb.example/cobrowse/GlanceCobrowseLoader.js',
    getAttribute: (n) => ({ id: 'glance-cobrowse', 'data-groupid': '1234', ...attrs })[n] ?? null };
  const on = {}, fetched = [], engines = [], replaced = [], assigned = [], posted = [];
  const loc = new URL(page);
  loc.assign = (u) => assigned.push(u);
  const win = {
    console: con, location: loc, open,
    history: { state: null, replaceState: (st, t, u) => { replaced.push(u); } },
    opener: { postMessage: (m, o) => posted.push([m, o]) },
    addEventListener: (t, f) => { (on['win:' + t] ||= []).push(f); },
    removeEventListener() {},
    fetch: async (url, opts) => {
      fetched.push([url, opts]);
      const path = new URL(url).pathname;
      const r = api[path] ? api[path](opts && opts.body && JSON.parse(opts.body)) : [404, {}];
      return { ok: r[0] === 200, status: r[0], json: async () => r[1] };
    },
    document: { currentScript: tag, baseURI: page, cookie, getElementById: (id) => (id === 'glance-cobrowse' ? tag : null),
      addEventListener: (t, f, capture) => { (on[t + (capture ? ':capture' : '')] ||= []).push(f); } },
  };
  const mod = {
    default: async () => {},
    Engine: class {
      constructor(json) {
        const cfg = JSON.parse(json);
        engines.push(cfg);
        if (cfg.handoff) win.document.cookie = 'glance_ssn_info=' + cfg.handoff; // the engine stores it
      }
      inSession() { return inSession; }
      getSessionState() { return null; }
    },
  };
  const C = boot(win, async () => mod);
  return { C, win, on, logs, fetched, engines, replaced, assigned, posted };
}

const GROUP = { '/api/group/1234/trusted': () => [200, { trusted_domains: ['a.example', 'b.example'], crossdomain_helpers: ['https://a.example/helper.html'] }] };

test('a fragment token is removed from the URL at once, redeemed, and handed to the engine', async () => {
  const s = setup({ page: `https://b.example/p.html?x=1#top&glance_xd=${TOKEN}`,
    api: { '/api/handoff/redeem': (b) => (b.token === TOKEN ? [200, { session: SESSION, opener: 'https://a.example' }] : [403, { error: 'BAD_TOKEN' }]) } });
  assert.deepEqual(s.replaced, ['/p.html?x=1#top'], 'synchronously, before the engine loads');
  await s.C.Loader.ready;
  assert.equal(s.engines[0].handoff, SESSION);
  assert.equal(s.engines[0].helper, undefined);
  const [url, opts] = s.fetched.find(([u]) => u.endsWith('/api/handoff/redeem'));
  assert.equal(url, 'https://cb.example/api/handoff/redeem');
  assert.equal(opts.credentials, 'omit');
  assert.equal(opts.referrerPolicy, 'no-referrer');
  assert.equal(s.posted.length, 0, 'not a helper: nothing posted');
});

test('a refused token is an error event; malformed tokens are not redeemed', async () => {
  const s = setup({ page: `https://b.example/p.html#glance_xd=${TOKEN}`, api: { '/api/handoff/redeem': () => [403, { error: 'WRONG_ORIGIN' }] } });
  const errors = [];
  s.C.Visitor.addEventListener('error', (e) => errors.push(e.code));
  await s.C.Loader.ready;
  assert.deepEqual(errors, ['WRONG_ORIGIN']);
  assert.equal(s.engines[0].handoff, undefined);
  const t = setup({ page: 'https://b.example/p.html#glance_xd=zz' });
  await t.C.Loader.ready;
  assert.equal(t.fetched.length, 0);
  assert.deepEqual(t.replaced, []);
});

test('helper mode: group id only from the allowed list, stored session reported to the server-named opener', async () => {
  const redeem = { '/api/handoff/redeem': () => [200, { session: 'v1.ABC.00ff.77.0', opener: 'https://a.example' }] };
  const s = setup({ page: `https://b.example/h.html?GlanceSession=1&groupid=77&data-site=staging#glance_xd=${TOKEN}`,
    attrs: { 'data-additionalgroupids': '77' }, api: redeem });
  await s.C.Loader.ready;
  assert.equal(s.engines[0].helper, true);
  assert.equal(s.engines[0].groupid, '77');
  assert.equal(s.engines[0].site, 'staging');
  assert.deepEqual(s.posted, [[{ glance_xd: 'stored' }, 'https://a.example']]);
  const t = setup({ page: `https://b.example/h.html?GlanceSession=1&groupid=999&data-site=evil#glance_xd=${TOKEN}`, api: redeem });
  await t.C.Loader.ready;
  assert.equal(t.engines[0].groupid, '1234');
  assert.equal(t.engines[0].site, 'production');
  assert.match(t.logs.warn.join('\n'), /groupid 999 is not/);
});

const click = (s, href, extra = {}) => {
  let prevented = false;
  const a = { href, target: extra.target || '', hasAttribute: () => false };
  for (const f of s.on['click:capture']) f({ button: 0, target: { closest: () => a }, preventDefault: () => { prevented = true; }, ...extra });
  return prevented;
};

test('links: a trusted domain gets a fragment token on the first click; untrusted or modified clicks are untouched', async () => {
  const issued = [];
  const s = setup({ cookie: 'glance_ssn_info=' + SESSION, inSession: true,
    api: { ...GROUP, '/api/handoff': (b) => { issued.push(b); return [200, { token: TOKEN }]; } } });
  await s.C.Loader.ready;
  assert.equal(click(s, 'https://a.example/x'), false, 'trusted list not loaded yet: nothing special');
  // The list is loaded when a session runs (sessioncontinue) or by crossDomain() (popup blocked here).
  await s.C.Visitor.crossDomain({});
  assert.equal(click(s, 'https://evil.example/x'), false);
  assert.equal(click(s, 'https://b.example/same-origin'), false);
  assert.equal(click(s, 'https://a.example/x', { ctrlKey: true }), false);
  assert.equal(click(s, 'https://a.example/x', { target: '_blank' }), false);
  assert.equal(click(s, 'https://a.example/x#frag'), true);
  await tick();
  assert.deepEqual(s.assigned, [`https://a.example/x#frag&glance_xd=${TOKEN}`]);
  assert.deepEqual(issued.at(-1), { group: '1234', key: 'ABC', sid: '00ff', target: 'https://a.example' });
  assert.equal(click(s, 'https://a.example/y'), false, 'first click only');
});

test('crossDomain: untrusted url is UNTRUSTED_ORIGIN (no navigation); a blocked popup is POPUP_BLOCKED; never rejects', async () => {
  const s = setup({ cookie: 'glance_ssn_info=' + SESSION, inSession: true, api: { ...GROUP, '/api/handoff': () => [200, { token: TOKEN }] } });
  await s.C.Loader.ready;
  const errors = [];
  s.C.Visitor.addEventListener('error', (e) => errors.push(e.code));
  assert.equal(await s.C.Visitor.crossDomain({ url: 'https://evil.example/' }), false);
  assert.deepEqual(errors, ['UNTRUSTED_ORIGIN']);
  assert.deepEqual(s.assigned, []);
  errors.length = 0;
  // Popup blocked (open returns null): reported; the url still carries the session by a fragment token.
  assert.equal(await s.C.Visitor.crossDomain({ url: 'https://a.example/next' }), false);
  assert.deepEqual(errors, ['POPUP_BLOCKED']);
  assert.deepEqual(s.assigned, [`https://a.example/next#glance_xd=${TOKEN}`]);
  // Not in session: plain navigation, no token asked.
  const t = setup({ api: GROUP });
  await t.C.Loader.ready;
  assert.equal(await t.C.Visitor.crossDomain({ url: 'https://a.example/n' }), true);
  assert.deepEqual(t.assigned, ['https://a.example/n']);
  assert.ok(!t.fetched.some(([u]) => u.endsWith('/api/handoff')));
});
