// End-to-end harness: a real cobrowse-server, Debian's headless Chromium driven by playwright-core,
// a visitor page and an agent viewer page, every WebSocket frame captured, and an in-page DOM
// comparison of the visitor document against the agent's mirror (`#glance-mirror`).
//
// Contracts: docs/PROTOCOL.md, docs/LAYOUT.md. Never downloads a browser.
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(E2E_DIR, '..', '..');
export const PAGES_DIR = path.join(E2E_DIR, 'pages');
export const ARTIFACTS_DIR = path.join(E2E_DIR, 'artifacts');
export const TEST_CONFIG = path.join(E2E_DIR, 'test-config.toml');
export const SERVER_BIN = process.env.COBROWSE_SERVER || path.join(ROOT, 'target', 'release', 'cobrowse-server');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
/** Fixture pages (tests/e2e/pages/) live under this prefix on the server's origin. The server serves
 * `/test-pages/` from `tests/e2e/pages/`; if it does not (404), the browser contexts serve the files
 * themselves under the same prefix (playwright routing), so fixtures work either way. */
export const FIXTURE_PREFIX = '/test-pages/';
/** Default time a mirror comparison may take to converge. */
export const MIRROR_TIMEOUT_MS = Number(process.env.E2E_MIRROR_TIMEOUT_MS || 8000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Mask selectors of a group, read from the test config (`masks = [...]` under `[groups.ID]`). */
export function maskSelectors(group = '1234', file = TEST_CONFIG) {
  const text = fs.readFileSync(file, 'utf8');
  const sect = text.split(/^\[/m).find((s) => s.startsWith(`groups.${group}]`) || s.startsWith(`groups."${group}"]`));
  const line = sect && sect.match(/^\s*masks\s*=\s*\[(.*)\]\s*$/m);
  if (!line) return [];
  return [...line[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'));
}

/** Every element matching one of these is a mask root on the visitor side (PROTOCOL.md "Masking"). */
export const ALWAYS_MASKED = ['input[type=password]'];

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// --------------------------------------------------------------------------------------------
// Server + browser
// --------------------------------------------------------------------------------------------

export class Server {
  constructor(proc, base, log) { this.proc = proc; this.base = base; this.log = log; }

  static async start({ config = TEST_CONFIG, testHooks = true, extraArgs = [] } = {}) {
    if (!fs.existsSync(SERVER_BIN)) {
      throw new Error(`${SERVER_BIN} does not exist: run \`make build\` first`);
    }
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const args = ['--listen', listen, '--config', config, '--root', ROOT];
    if (testHooks) args.push('--test-hooks');
    args.push(...extraArgs);
    const proc = spawn(SERVER_BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    const log = [];
    const keep = (chunk) => {
      for (const l of String(chunk).split('\n')) if (l) log.push(l);
      if (log.length > 400) log.splice(0, log.length - 400);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    let exited = null;
    // Never leave a server behind, even if the test process dies without running after() hooks.
    const reap = () => { try { proc.kill('SIGKILL'); } catch (e) { /* gone */ } };
    process.once('exit', reap);
    proc.on('exit', (code, sig) => { exited = `exited with ${code ?? sig}`; process.removeListener('exit', reap); });
    const base = `http://${listen}`;
    const server = new Server(proc, base, log);
    const deadline = Date.now() + 20000;
    for (;;) {
      if (exited) throw new Error(`cobrowse-server ${exited} during start-up:\n${server.logTail()}`);
      try {
        const r = await fetch(`${base}/api/session/__harness_probe__`);
        await r.arrayBuffer();
        break; // any HTTP answer (404 expected) means it listens
      } catch (e) {
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`cobrowse-server did not answer on ${base} within 20 s:\n${server.logTail()}`);
        }
        await sleep(100);
      }
    }
    return server;
  }

  logTail(n = 60) { return this.log.slice(-n).map((l) => '  server| ' + l).join('\n'); }

  url(p) { return new URL(p, this.base).href; }

  /** POST /__test/drop/KEY: abruptly closes the visitor socket of KEY (needs --test-hooks). */
  async dropVisitorSocket(key) {
    const r = await fetch(this.url(`/__test/drop/${encodeURIComponent(key)}`), { method: 'POST' });
    const body = await r.text();
    if (!r.ok) throw new Error(`POST /__test/drop/${key} -> ${r.status} ${body}`);
    return body;
  }

  async sessionInfo(key) {
    const r = await fetch(this.url(`/api/session/${encodeURIComponent(key)}`));
    return { status: r.status, body: await r.json().catch(() => null) };
  }

  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await once(this.proc, 'exit').catch(() => {});
    clearTimeout(t);
  }
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/ensure-browser.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** One server and one browser for a test file. */
export class E2E {
  static async start(opts = {}) {
    const e = new E2E();
    e.server = await Server.start(opts);
    try {
      e.browser = await launchBrowser();
    } catch (err) {
      await e.server.stop();
      throw err;
    }
    e.masks = [...maskSelectors(opts.group || '1234', opts.config || TEST_CONFIG), ...ALWAYS_MASKED];
    const probe = await fetch(e.url(`${FIXTURE_PREFIX}no-groupid.html`)).catch(() => null);
    e.serverServesFixtures = !!(probe && probe.ok);
    await probe?.arrayBuffer().catch(() => {});
    return e;
  }

  url(p) { return this.server.url(p); }

  async stop() {
    await this.browser?.close().catch(() => {});
    await this.server?.stop();
  }

  /** A scenario: a visitor context and an agent context, with frame/console capture. */
  async scenario(name) {
    const s = new Scenario(this, name);
    await s.init();
    return s;
  }

  /** Wraps a node:test body: creates a scenario, dumps artifacts on failure, always cleans up. */
  run(fn) {
    return async (t) => {
      const s = await this.scenario(t.name);
      try {
        await fn(s, t);
      } catch (err) {
        const where = await s.dumpArtifacts().catch((e) => `(artifact dump failed: ${e.message})`);
        err.message += `\n--- artifacts: ${where}\n--- console (last 30):\n${s.consoleTail(30)}\n--- server log (last 40):\n${this.server.logTail(40)}`;
        throw err;
      } finally {
        await s.close();
      }
    };
  }
}

// --------------------------------------------------------------------------------------------
// Scenario: visitor + agent pages
// --------------------------------------------------------------------------------------------

/** A frame's text: binary frames are the engine's gzip-compressed messages. */
function frameText(payload) {
  if (typeof payload === 'string') return payload;
  const b = Buffer.from(payload);
  try { return zlib.gunzipSync(b).toString('utf8'); } catch (_) { return b.toString('utf8'); }
}

export class Scenario {
  constructor(e2e, name) {
    this.e2e = e2e;
    this.name = name;
    /** Every WebSocket frame: {side, ws, dir: 'sent'|'received', text, time}; ws = socket index per side. */
    this.frames = [];
    /** Every WebSocket opened: {side, ws, url, closed}. */
    this.sockets = [];
    /** Console messages and page errors: {side, type, text}. */
    this.console = [];
    this.visitor = null;
    this.agent = null;
  }

  async init() {
    const b = this.e2e.browser;
    this.visitorContext = await b.newContext({ viewport: { width: 1280, height: 720 } });
    this.agentContext = await b.newContext({ viewport: { width: 1400, height: 900 } });
    if (!this.e2e.serverServesFixtures) {
      for (const ctx of [this.visitorContext, this.agentContext]) await routeFixtures(ctx, this.e2e.server.base);
    }
  }

  _watch(page, side) {
    page.on('console', (m) => this.console.push({ side, type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => this.console.push({ side, type: 'pageerror', text: String(e && e.stack || e) }));
    page.on('websocket', (ws) => {
      const rec = { side, ws: this.sockets.filter((x) => x.side === side).length, url: ws.url(), closed: false };
      this.sockets.push(rec);
      const push = (dir) => (f) => this.frames.push({
        side, ws: rec.ws, dir, time: Date.now(),
        binary: typeof f.payload !== 'string',
        bytes: typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length,
        text: frameText(f.payload),
      });
      ws.on('framesent', push('sent'));
      ws.on('framereceived', push('received'));
      ws.on('close', () => { rec.closed = true; });
    });
  }

  /** The visitor page (created on first use), navigated to `p` (`/demo/...` or `/e2e-pages/...`). */
  async openVisitor(p = '/demo/index.html', { waitForGlance = true } = {}) {
    if (!this.visitor) {
      this.visitor = await this.visitorContext.newPage();
      this._watch(this.visitor, 'visitor');
    }
    await this.visitor.goto(this.e2e.url(p), { waitUntil: 'load' });
    if (waitForGlance) await waitForVisitorApi(this.visitor);
    return this.visitor;
  }

  /** Starts a session on the visitor page; resolves to the session key once `sessionstart` fired. */
  async startSession(page = this.visitor, params) {
    const state = await page.evaluate((params) => new Promise((resolve, reject) => {
      const V = window.GLANCE.Cobrowse.Visitor;
      const timer = setTimeout(() => reject(new Error('no sessionstart within 15 s; getSessionState() = ' +
        JSON.stringify(V.getSessionState()))), 15000);
      V.addEventListener('sessionstart', () => {
        clearTimeout(timer);
        // The key may be set just after the event in some engines: poll briefly.
        const t0 = Date.now();
        (function poll() {
          const st = V.getSessionState();
          if (st && st.sessionKey) return resolve(st);
          if (Date.now() - t0 > 3000) return reject(new Error('sessionstart fired but getSessionState().sessionKey is ' +
            JSON.stringify(st)));
          setTimeout(poll, 20);
        })();
      });
      V.addEventListener('error', (e) => { clearTimeout(timer); reject(new Error('error event: ' + JSON.stringify(e))); });
      if (params === undefined) V.startSession(); else V.startSession(params);
    }), params);
    this.key = state.sessionKey;
    return this.key;
  }

  /** Opens the agent viewer for `key` and waits until it shows an active session with a mirror. */
  async openAgent(key = this.key, { waitActive = true } = {}) {
    if (!this.agent) {
      this.agent = await this.agentContext.newPage();
      this._watch(this.agent, 'agent');
    }
    await this.agent.goto(this.e2e.url(`/agentjoin/AgentView.aspx?SessionKey=${encodeURIComponent(key)}&wait=1`));
    if (waitActive) await this.waitAgentState('active');
    return this.agent;
  }

  async agentState() {
    return this.agent.evaluate(() => document.body && document.body.dataset.state);
  }

  async waitAgentState(state, timeout = 15000) {
    try {
      await this.agent.waitForFunction((st) => document.body && document.body.dataset.state === st, state, { timeout, polling: 50 });
    } catch (e) {
      const cur = await this.agentState().catch(() => '?');
      throw new Error(`agent state did not become "${state}" within ${timeout} ms (it is "${cur}")`);
    }
  }

  /** `window.glanceViewer` of the agent page (`{page, seq, snapshots, key}`) or null. */
  async viewerInfo() {
    return this.agent.evaluate(() => {
      const v = window.glanceViewer;
      if (!v) return null;
      const out = {};
      for (const k of Object.keys(v)) {
        const x = v[k];
        if (x == null || ['string', 'number', 'boolean'].includes(typeof x)) out[k] = x;
        else { try { out[k] = JSON.parse(JSON.stringify(x)); } catch (e) { /* skip */ } }
      }
      return out;
    });
  }

  /**
   * Polls until the visitor document and the agent's mirror serialize to equal normalized trees.
   * Throws with a readable description of the first mismatch on timeout.
   */
  async mirrorMatches({ timeout = MIRROR_TIMEOUT_MS, visitor = this.visitor, agent = this.agent } = {}) {
    const deadline = Date.now() + timeout;
    let last = null;
    for (;;) {
      last = await compareOnce(visitor, agent, this.e2e.masks);
      if (last.ok) return last;
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    throw new Error(`mirror does not match the visitor page after ${timeout} ms:\n${last.report}`);
  }

  /** Parsed JSON messages; filters: side, dir ('sent'|'received'), t (message type), ws. */
  messages({ side, dir, t, ws } = {}) {
    const out = [];
    for (const f of this.frames) {
      if (side && f.side !== side) continue;
      if (dir && f.dir !== dir) continue;
      if (ws !== undefined && f.ws !== ws) continue;
      let msg;
      try { msg = JSON.parse(f.text); } catch (e) { msg = null; }
      if (t && (!msg || msg.t !== t)) continue;
      out.push({ ...f, msg });
    }
    return out;
  }

  /** Frames (either side, either direction) whose text contains `needle`. */
  framesContaining(needle) {
    return this.frames.filter((f) => f.text.includes(needle));
  }

  consoleTail(n = 30) {
    return this.console.slice(-n).map((c) => `  ${c.side} ${c.type}| ${c.text}`).join('\n') || '  (none)';
  }

  async dumpArtifacts() {
    const dir = path.join(ARTIFACTS_DIR, this.name.replace(/[^\w.-]+/g, '_').slice(0, 80));
    fs.mkdirSync(dir, { recursive: true });
    for (const [n, p] of [['visitor', this.visitor], ['agent', this.agent]]) {
      if (p && !p.isClosed()) {
        await p.screenshot({ path: path.join(dir, `${n}.png`), fullPage: false, timeout: 5000 }).catch(() => {});
        const html = await p.content().catch(() => '');
        fs.writeFileSync(path.join(dir, `${n}.html`), html);
      }
    }
    fs.writeFileSync(path.join(dir, 'frames.jsonl'), this.frames.map((f) => JSON.stringify(f)).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'console.txt'), this.console.map((c) => `${c.side} ${c.type}: ${c.text}`).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'server.log'), this.e2e.server.log.join('\n') + '\n');
    return path.relative(ROOT, dir);
  }

  async close() {
    await this.visitorContext?.close().catch(() => {});
    await this.agentContext?.close().catch(() => {});
  }
}

/** Serves tests/e2e/pages/ under FIXTURE_PREFIX on the server's origin, from inside the browser context. */
async function routeFixtures(ctx, base) {
  const origin = new URL(base).origin;
  await ctx.route((u) => u.origin === origin && u.pathname.startsWith(FIXTURE_PREFIX), async (route) => {
    const rel = decodeURIComponent(new URL(route.request().url()).pathname.slice(FIXTURE_PREFIX.length));
    const file = path.resolve(PAGES_DIR, rel);
    if (!file.startsWith(PAGES_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      return route.fulfill({ status: 404, contentType: 'text/plain', body: 'no such fixture page' });
    }
    return route.fulfill({ path: file });
  });
}

export async function waitForVisitorApi(page, timeout = 10000) {
  try {
    await page.waitForFunction(() => window.GLANCE && window.GLANCE.Cobrowse && window.GLANCE.Cobrowse.Visitor &&
      typeof window.GLANCE.Cobrowse.Visitor.startSession === 'function', null, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`GLANCE.Cobrowse.Visitor did not appear on ${page.url()} within ${timeout} ms`);
  }
}

// --------------------------------------------------------------------------------------------
// DOM comparison
// --------------------------------------------------------------------------------------------

/**
 * Runs inside a page. Serializes either the page's own document (`which: 'visitor'`) or the agent
 * viewer's mirror (`which: 'mirror'`, the `#glance-mirror` iframe's contentDocument) to a normalized
 * tree. Must be self-contained (it is shipped to the page as source).
 */
export function serializeInPage(arg) {
  const { which, base, masks, mirrorMasked } = arg;
  let doc;
  if (which === 'visitor') doc = document;
  else {
    const frame = document.querySelector('#glance-mirror');
    if (!frame) return { error: 'agent page has no #glance-mirror iframe' };
    doc = frame.contentDocument;
    if (!doc) return { error: '#glance-mirror has no contentDocument (is it sandbox="allow-same-origin"?)' };
    if (!doc.documentElement) return { error: 'mirror document is empty' };
  }
  const URL_ATTRS = new Set(['href', 'src', 'action', 'poster']);
  const mirrorMaskedSet = new Set(mirrorMasked || []);
  const gidProblems = [];
  const seenGids = new Map();
  const maskedGids = [];

  const abs = (v) => {
    try { return new URL(v.trim(), base).href; } catch (e) { return v; }
  };
  const cssUrls = (css) => css.replace(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/g,
    (m, a, b, c) => 'url("' + abs(a ?? b ?? c ?? '') + '")');

  function attrsOf(el, tag) {
    const out = [];
    for (const a of Array.from(el.attributes)) {
      const n = a.name;
      let v = a.value;
      if (/^on/i.test(n)) continue;
      if (n === 'data-glance-masked') continue;
      if (tag === 'script' && n !== 'type') continue;
      if (URL_ATTRS.has(n)) {
        v = abs(v);
        if (/^javascript:/i.test(v)) continue;
      }
      if (n === 'style') v = cssUrls(v);
      out.push([n, v]);
    }
    out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return out;
  }

  function isMaskRoot(el) {
    if (which === 'mirror') return el.hasAttribute('data-glance-masked');
    for (const sel of masks) {
      try { if (el.matches(sel)) return true; } catch (e) { /* bad selector */ }
    }
    // A password field toggled to type=text stays masked (the engine remembers): trust the mirror for inputs.
    const gid = el.getAttribute('data-gid');
    return el.localName === 'input' && gid !== null && mirrorMaskedSet.has(gid);
  }

  function checkGid(el, inMask) {
    if (which !== 'visitor') return;
    const g = el.getAttribute('data-gid');
    if (g === null) {
      if (!inMask) gidProblems.push('element without data-gid: ' + describe(el));
      return;
    }
    if (!/^[1-9]\d*$/.test(g)) gidProblems.push('non-integer data-gid="' + g + '": ' + describe(el));
    if (seenGids.has(g)) gidProblems.push('duplicate data-gid="' + g + '": ' + describe(el) + ' and ' + seenGids.get(g));
    else seenGids.set(g, describe(el));
  }

  function describe(el) {
    let s = '<' + el.localName;
    if (el.id) s += ' id="' + el.id + '"';
    const c = el.getAttribute('class');
    if (c) s += ' class="' + c + '"';
    return s + '>';
  }

  function ser(node, inMask) {
    switch (node.nodeType) {
      case 1: {
        const el = node;
        const tag = el.localName;
        // Scripts keep only `type` (PROTOCOL.md), so their data-gid is not compared either.
        const gid = tag === 'script' ? null : el.getAttribute('data-gid');
        checkGid(el, inMask);
        if (isMaskRoot(el)) {
          maskedGids.push(gid);
          // Inside the visitor's mask root only gids are checked (no comparison of the subtree).
          if (which === 'visitor') for (const d of el.querySelectorAll('*')) checkGid(d, true);
          return { k: 'el', tag, gid, masked: true };
        }
        const out = { k: 'el', tag, gid, attrs: attrsOf(el, tag) };
        if (el.namespaceURI && el.namespaceURI !== 'http://www.w3.org/1999/xhtml') out.ns = el.namespaceURI;
        if (tag === 'input' || tag === 'textarea' || tag === 'select') {
          const type = (el.getAttribute('type') || '').toLowerCase();
          if (tag !== 'input' || type !== 'file') out.value = el.value;
          if (tag === 'input' && (type === 'checkbox' || type === 'radio')) out.checked = el.checked;
        }
        if (tag === 'script') { out.kids = []; return out; }
        out.kids = [];
        for (let c = el.firstChild; c; c = c.nextSibling) {
          const r = ser(c, inMask);
          if (r) out.kids.push(r);
        }
        if (tag === 'style') for (const k of out.kids) if (k.k === 'text') k.d = cssUrls(k.d);
        return out;
      }
      case 3: return { k: 'text', d: node.data };
      case 4: return { k: 'text', d: node.data };
      case 8: return { k: 'comment', d: node.data };
      case 10: return { k: 'doctype', name: node.name };
      default: return null;
    }
  }

  const kids = [];
  for (let c = doc.firstChild; c; c = c.nextSibling) {
    const r = ser(c, false);
    if (r) kids.push(r);
  }
  return { tree: { k: 'document', kids }, gidProblems, maskedGids };
}

function describeNode(n) {
  if (!n) return '(nothing)';
  const cut = (s, l = 80) => (s.length > l ? JSON.stringify(s.slice(0, l)) + '…' : JSON.stringify(s));
  switch (n.k) {
    case 'el': {
      if (n.masked) return `<${n.tag} data-gid=${n.gid}> (masked)`;
      const attrs = n.attrs.map(([a, v]) => `${a}=${cut(v, 60)}`).join(' ');
      return `<${n.tag}${attrs ? ' ' + attrs : ''}>` +
        ('value' in n ? ` value=${cut(String(n.value))}` : '') + ('checked' in n ? ` checked=${n.checked}` : '');
    }
    case 'text': return `#text ${cut(n.d)}`;
    case 'comment': return `#comment ${cut(n.d)}`;
    case 'doctype': return `<!doctype ${n.name}>`;
    default: return n.k;
  }
}

function label(n, i) {
  if (n.k !== 'el') return `${i}:#${n.k}`;
  return `${n.tag}${n.gid != null ? `[gid=${n.gid}]` : ''}`;
}

/** First difference between two normalized trees, or null. */
export function firstDifference(v, m, pathStr = 'document') {
  const diff = (what) => ({ path: pathStr, what, visitor: describeNode(v), mirror: describeNode(m) });
  if (!v || !m) return diff('node missing');
  if (v.k !== m.k) return diff('node type differs');
  switch (v.k) {
    case 'text': case 'comment':
      if (v.d !== m.d) return diff(`${v.k} data differs`);
      return null;
    case 'doctype':
      if (v.name !== m.name) return diff('doctype differs');
      return null;
    case 'el':
      if (v.tag !== m.tag) return diff('tag differs');
      if (v.gid !== m.gid) return diff(`data-gid differs (visitor ${v.gid}, mirror ${m.gid})`);
      if (!!v.masked !== !!m.masked) return diff(v.masked ? 'visitor element is a mask root but the mirror is not masked' : 'mirror masks an element that is not a mask root');
      if (v.masked) return null;
      if ((v.ns || '') !== (m.ns || '')) return diff(`namespace differs (${v.ns || 'html'} vs ${m.ns || 'html'})`);
      {
        const va = new Map(v.attrs), ma = new Map(m.attrs);
        for (const [a, val] of va) {
          if (!ma.has(a)) return diff(`attribute ${a} missing in the mirror`);
          if (ma.get(a) !== val) return diff(`attribute ${a} differs: visitor ${JSON.stringify(val)}, mirror ${JSON.stringify(ma.get(a))}`);
        }
        for (const a of ma.keys()) if (!va.has(a)) return diff(`extra attribute ${a}=${JSON.stringify(ma.get(a))} in the mirror`);
      }
      if (v.value !== m.value) return diff(`.value differs: visitor ${JSON.stringify(v.value)}, mirror ${JSON.stringify(m.value)}`);
      if (v.checked !== m.checked) return diff(`.checked differs: visitor ${v.checked}, mirror ${m.checked}`);
      break;
    case 'document': break;
    default: return diff('unknown node kind');
  }
  const vk = v.kids || [], mk = m.kids || [];
  const n = Math.min(vk.length, mk.length);
  for (let i = 0; i < n; i++) {
    const d = firstDifference(vk[i], mk[i], `${pathStr} > ${label(vk[i], i)}`);
    if (d) return d;
  }
  if (vk.length !== mk.length) {
    const i = n;
    return {
      path: pathStr,
      what: `child count differs: visitor ${vk.length}, mirror ${mk.length}; first unmatched child #${i}`,
      visitor: describeNode(vk[i]),
      mirror: describeNode(mk[i]),
    };
  }
  return null;
}

/** One comparison of the visitor document with the mirror. */
export async function compareOnce(visitorPage, agentPage, masks) {
  const base = await visitorPage.evaluate(() => document.baseURI);
  const mirror = await agentPage.evaluate(serializeInPage, { which: 'mirror', base, masks: [], mirrorMasked: [] });
  if (mirror.error) return { ok: false, report: '  ' + mirror.error };
  const vis = await visitorPage.evaluate(serializeInPage, { which: 'visitor', base, masks, mirrorMasked: mirror.maskedGids });
  const problems = [];
  if (vis.gidProblems.length) {
    problems.push(`  visitor data-gid problems (${vis.gidProblems.length}):\n` +
      vis.gidProblems.slice(0, 5).map((p) => '    ' + p).join('\n'));
  }
  const d = firstDifference(vis.tree, mirror.tree);
  if (d) {
    problems.push(`  first mismatch at ${d.path}\n    ${d.what}\n    visitor: ${d.visitor}\n    mirror:  ${d.mirror}`);
  }
  return {
    ok: problems.length === 0,
    report: problems.join('\n'),
    visitorMasked: vis.maskedGids,
    mirrorMasked: mirror.maskedGids,
  };
}
