// Deployment forms end to end, as a customer's site would have them: the pages come from a plain
// static file server on another origin (http://localhost:PORT) than the session server
// (http://127.0.0.1:PORT), and reference its /cobrowse/ files or a self-hosted package copy.
// Also: glance_invoke from another window, data-glancebutton and data-inputevents.
// Run: node --test tests/e2e/deploy.test.mjs   (after `make build`)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { E2E, ROOT, sleep } from './harness.mjs';

let e2e, site, chat, pkgDir, pkgTmp, version;

/** A plain static server: `pages` (path -> html) plus files under `dirs` (url prefix -> directory). */
async function staticServer(pages, dirs = {}) {
  const hits = [];
  const srv = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    hits.push(p);
    if (pages[p] != null) { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); return res.end(pages[p]); }
    for (const [prefix, dir] of Object.entries(dirs)) {
      if (!p.startsWith(prefix)) continue;
      const file = path.resolve(dir, p.slice(prefix.length));
      if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) break;
      const type = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.html': 'text/html' }[path.extname(file)] || 'application/octet-stream';
      res.writeHead(200, { 'content-type': type });
      return res.end(fs.readFileSync(file));
    }
    res.writeHead(404); res.end('not found');
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { srv, hits, port: srv.address().port, pages };
}

const S = () => e2e.server.base; // http://127.0.0.1:PORT (the session server)
const LOADER = () => `${S()}/cobrowse/GlanceCobrowseLoader.js`;
const body = `<h1>Customer shop</h1><p>Products and prices.</p>
  <button id="start" data-glancebutton="startSession"><span>Cobrowse</span></button>
  <a id="terms" href="#" data-glancebutton="showTerms">Cobrowse with terms</a><input id="q">`;
const page = (head, extra = '') => `<!doctype html><html><head><meta charset="utf-8"><title>shop</title>${head}</head><body>${body}${extra}</body></html>`;

before(async () => {
  e2e = await E2E.start();
  version = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version\s*=\s*"(.*)"/m)[1];
  const tmp = pkgTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glance-pkg-'));
  execFileSync(path.join(ROOT, 'scripts', 'package.sh'), { env: { ...process.env, PACKAGE_OUT: tmp }, stdio: 'pipe' });
  pkgDir = path.join(tmp, `glance-cobrowse-${version}`, 'cobrowse');
  // The chat window: 127.0.0.1 on its own port (trusted for group 1234, not for 2468).
  chat = await staticServer({
    '/chat.html': `<!doctype html><title>chat</title><script src="${S()}/cobrowse/GlanceCobrowseInvokeVisitor.js"></script>
      <script>
        window.invokeIn = (origin, gid, func, args) => {
          GLANCE.Cobrowse.InvokeVisitor.init(window.parent, gid, origin);
          GLANCE.Cobrowse.InvokeVisitor.invoke(func, args);
        };
      </script>`,
  });
  site = await staticServer({
    '/tag.html': page(`<script id="glance-cobrowse" src="${LOADER()}" data-groupid="1234" data-site="staging"
        data-inputevents='{"ctrl-13":"startSession"}'></script>`),
    '/meta.html': page(`<meta id="glance-cobrowse" data-groupid="1234" data-site="staging">
        <script id="cobrowsescript" src="${LOADER()}"></script>`),
    '/dynamic.html': page(`<script>
        addEventListener('load', () => {
          const s = document.createElement('script');
          s.setAttribute('id', 'glance-cobrowse');
          s.setAttribute('data-groupid', '1234');
          s.setAttribute('data-site', 'staging');
          document.head.append(s);
          s.setAttribute('src', ${JSON.stringify(LOADER())});
        });
      </script>`),
    '/twice.html': page(`<script id="glance-cobrowse" src="${LOADER()}" data-groupid="1234"></script>
        <script id="glance-cobrowse-2" src="${LOADER()}?again" data-groupid="1234"></script>`),
    '/package.html': page(`<script id="glance-cobrowse" src="/shop/glance/cobrowse/GlanceCobrowseLoader_${version}M.js"
        data-groupid="1234" data-site="production" data-scriptserver="/shop/glance/cobrowse" data-ws="${new URL(S()).host}"></script>`),
    '/invoke.html': page(`<script id="glance-cobrowse" src="${LOADER()}" data-groupid="1234" data-additionalgroupids="77"></script>`,
      `<iframe id="chat" src="http://127.0.0.1:${chat.port}/chat.html"></iframe>
       <iframe id="sandboxed" sandbox="allow-scripts" srcdoc="<script>window.go=()=>parent.postMessage({glance_invoke:{func:'startSession',groupid:'1234'}},'*')</script>"></iframe>`),
    '/invoke2468.html': page(`<script id="glance-cobrowse" src="${LOADER()}" data-groupid="2468"></script>`,
      `<iframe id="chat" src="http://127.0.0.1:${chat.port}/chat.html"></iframe>`),
  }, { '/shop/glance/cobrowse/': pkgDir });
});
after(async () => {
  site?.srv.close(); chat?.srv.close();
  if (pkgTmp) fs.rmSync(pkgTmp, { recursive: true, force: true });
  await e2e?.stop();
});

function it(name, fn, { timeout = 90000 } = {}) {
  test(name, { timeout }, async (t) => {
    if (!e2e) throw new Error('harness did not start');
    await e2e.run(fn)(t);
  });
}

/** The visitor page at http://localhost:SITEPORT/<p>, engine loaded. */
async function openSite(s, p) {
  if (!s.visitor) { s.visitor = await s.visitorContext.newPage(); s._watch(s.visitor, 'visitor'); }
  await s.visitor.goto(`http://localhost:${site.port}${p}`, { waitUntil: 'load' });
  await s.visitor.waitForFunction(() => window.GLANCE?.Cobrowse?.Loader, null, { timeout: 10000 });
  assert.ok(await s.visitor.evaluate(() => window.GLANCE.Cobrowse.Loader.ready.then((e) => !!e)), 'engine loaded');
  return s.visitor;
}

/** Waits for a session on the visitor page (started by whatever the test did), then the agent mirror. */
async function sessionFollows(s, key) {
  const v = s.visitor;
  await v.waitForFunction(() => window.GLANCE.Cobrowse.Visitor.getSessionState()?.sessionKey, null, { timeout: 15000, polling: 50 });
  const st = await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.getSessionState());
  if (key) assert.equal(st.sessionKey, key);
  s.key = st.sessionKey;
  await s.openAgent(st.sessionKey);
  await s.mirrorMatches();
  return st.sessionKey;
}

const visitorSockets = (s) => s.sockets.filter((x) => x.side === 'visitor');
const warnings = (s, re) => s.console.filter((c) => c.side === 'visitor' && re.test(c.text));

it('script tag on a page of another origin: data-glancebutton starts a session the agent sees', async (s) => {
  const v = await openSite(s, '/tag.html');
  await v.click('#start span'); // delegated: a click inside the element counts
  await sessionFollows(s);
  assert.equal(new URL(visitorSockets(s)[0].url).host, new URL(S()).host, 'socket to the session server');
  assert.equal(s.messages({ side: 'visitor', dir: 'sent', t: 'hello' })[0].msg.site, 'staging');
});

it('data-inputevents: ctrl+Enter starts a session; plain Enter does not', async (s) => {
  const v = await openSite(s, '/tag.html');
  await v.focus('#q');
  await v.keyboard.press('Enter');
  await sleep(300);
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  await v.keyboard.press('Control+Enter');
  await sessionFollows(s);
});

it('data-glancebutton="showTerms": the terms dialog, accepted, starts a session; declined, nothing', async (s) => {
  const v = await openSite(s, '/tag.html');
  const seen = [];
  v.on('dialog', (d) => { seen.push(d.type()); d.dismiss().catch(() => {}); });
  await v.click('#terms');
  await v.click('#glance_terms_decline');
  await sleep(300);
  assert.deepEqual(seen, [], 'the default UI asks, not the browser');
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  await v.click('#terms');
  await v.click('#glance_terms_accept');
  await sessionFollows(s);
});

it('meta tag + loader (tag managers)', async (s) => {
  await openSite(s, '/meta.html');
  assert.equal(await s.visitor.evaluate(() => window.GLANCE.Cobrowse.Loader.config.site), 'staging');
  await s.startSession();
  await sessionFollows(s, s.key);
});

it('script element created dynamically, attributes set before src', async (s) => {
  await openSite(s, '/dynamic.html');
  await s.startSession();
  await sessionFollows(s, s.key);
});

it('a second tag is reported and not loaded twice', async (s) => {
  await openSite(s, '/twice.html');
  await s.startSession();
  await sessionFollows(s, s.key);
  assert.equal(warnings(s, /loaded twice.*\?again.*ignored/).length, 1, s.consoleTail());
  assert.equal(visitorSockets(s).length, 1, 'one engine, one socket');
  assert.equal(site.hits.filter((h) => h.includes('glance_cobrowse')).length, 0);
});

it('self-hosted package from a path containing cobrowse, with data-scriptserver and data-ws', async (s) => {
  const from = site.hits.length;
  await openSite(s, '/package.html');
  const got = site.hits.slice(from);
  for (const f of [`GlanceCobrowseLoader_${version}M.js`, 'glance_cobrowse.js', 'glance_cobrowse_bg.wasm']) {
    assert.ok(got.includes(`/shop/glance/cobrowse/${f}`), `${f} from the customer's server: ${got}`);
  }
  await s.startSession();
  await sessionFollows(s, s.key);
});

it('glance_invoke from a trusted chat window (InvokeVisitor) controls the session; "null" is refused', async (s) => {
  const v = await openSite(s, '/invoke.html');
  const chatFrame = v.frame({ url: /chat\.html/ });
  await chatFrame.waitForFunction(() => window.invokeIn && window.GLANCE?.Cobrowse?.InvokeVisitor);
  const visitorOrigin = `http://localhost:${site.port}`;
  // A sandboxed frame (origin "null") and a wrong group id are ignored with a warning.
  await v.frame({ url: /^about:srcdoc/ }).evaluate(() => window.go());
  await chatFrame.evaluate(([o]) => window.invokeIn(o, '999', 'startSession'), [visitorOrigin]);
  // A function that is not the Visitor API is ignored too.
  await chatFrame.evaluate(([o]) => window.invokeIn(o, '1234', 'constructor'), [visitorOrigin]);
  await sleep(500);
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
  assert.equal(warnings(s, /glance_invoke from null ignored: origin not trusted/).length, 1, s.consoleTail());
  assert.equal(warnings(s, /groupid 999 does not match/).length, 1);
  assert.equal(warnings(s, /unknown function constructor/).length, 1);
  // The trusted chat window (127.0.0.1, another origin) starts a session with its key...
  await chatFrame.evaluate(([o]) => window.invokeIn(o, 1234, 'startSession', { sessionKey: '515151' }), [visitorOrigin]);
  await sessionFollows(s, '515151');
  // ...and an additional group id may stop it.
  await chatFrame.evaluate(([o]) => window.invokeIn(o, '77', 'stopSession'), [visitorOrigin]);
  await s.waitAgentState('ended');
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
});

it('glance_invoke from an origin the group does not trust is ignored', async (s) => {
  const v = await openSite(s, '/invoke2468.html');
  const chatFrame = v.frame({ url: /chat\.html/ });
  await chatFrame.waitForFunction(() => window.invokeIn && window.GLANCE?.Cobrowse?.InvokeVisitor);
  await chatFrame.evaluate(([o]) => window.invokeIn(o, '2468', 'startSession'), [`http://localhost:${site.port}`]);
  await v.waitForFunction(() => true);
  for (let i = 0; i < 40 && !warnings(s, /origin not trusted/).length; i++) await sleep(50);
  assert.equal(warnings(s, new RegExp(`glance_invoke from http://127\\.0\\.0\\.1:${chat.port} ignored: origin not trusted`)).length, 1, s.consoleTail());
  assert.equal(await v.evaluate(() => window.GLANCE.Cobrowse.Visitor.inSession()), false);
});
