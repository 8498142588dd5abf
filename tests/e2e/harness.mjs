// End-to-end harness: a real cobrowse-server, Debian's headless Chromium driven by playwright-core,
// a visitor page and an agent viewer page, every WebSocket frame captured, and an in-page DOM
// comparison of the visitor document against the agent's mirror (`#glance-mirror`).
//
// Contracts: docs/PROTOCOL.md, docs/LAYOUT.md. Never downloads a browser.
import crypto from 'node:crypto';
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

/** The agents and the partner of tests/e2e/test-config.toml (see docs/PROTOCOL.md). */
export const PARTNER = { id: 1234, apikey: 'e2e-partner-secret' };
export const AGENTS = {
  agnes: { username: 'agnes', password: 'agnes-pass', name: 'Agnes Agent', partneruserid: 'agnes@example.com' },
  bob: { username: 'bob', password: 'bob-pass', name: 'Bob Builder' },
};

/** The agents' TOML of the test config, for suites that write their own server config. */
export const AGENTS_TOML = `
[agents.agnes]
password = "${AGENTS.agnes.password}"
name = "${AGENTS.agnes.name}"
partnerid = ${PARTNER.id}
partneruserid = "${AGENTS.agnes.partneruserid}"

[partners.${PARTNER.id}]
apikey = "${PARTNER.apikey}"
`;

/**
 * A login key as an integration's back end computes it: `$1$EXPIRES$SIG`, SIG the hex
 * HMAC-SHA256 of `PARTNERID:PARTNERUSERID:EXPIRES` under the partner's API key.
 */
export function loginKey(partneruserid, { partner = PARTNER, expires = Math.floor(Date.now() / 1000) + 3600 } = {}) {
  const sig = crypto.createHmac('sha256', partner.apikey).update(`${partner.id}:${partneruserid}:${expires}`).digest('hex');
  return `$1$${expires}$${sig}`;
}

/** `{partnerid, partneruserid, loginkey}` for an agent of the test config. */
export function loginKeyParams(agent = AGENTS.agnes) {
  return { partnerid: String(PARTNER.id), partneruserid: agent.partneruserid, loginkey: loginKey(agent.partneruserid) };
}

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
    // A line can arrive in several chunks (Rust's unbuffered stderr writes each piece of a
    // formatted line separately), so each stream keeps its unfinished line until its newline.
    const keeper = () => {
      let partial = '';
      return (chunk) => {
        const parts = (partial + String(chunk)).split('\n');
        partial = parts.pop();
        for (const l of parts) if (l) log.push(l);
        if (log.length > 400) log.splice(0, log.length - 400);
      };
    };
    proc.stdout.on('data', keeper());
    proc.stderr.on('data', keeper());
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

/** `extraArgs`: more Chromium flags; `ignoreDefaultArgs`: Playwright defaults to drop (such as
 * `--disable-popup-blocking`, for tests of the popup blocker). */
export async function launchBrowser(extraArgs = [], ignoreDefaultArgs = []) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/ensure-browser.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], ignoreDefaultArgs });
}

/** One server and one browser for a test file. */
export class E2E {
  static async start(opts = {}) {
    const e = new E2E();
    e.server = await Server.start(opts);
    try {
      e.browser = await launchBrowser(opts.browserArgs || [], opts.ignoreDefaultArgs || []);
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

  /** `p` on the test server under another host name (needs `browserArgs` mapping it). */
  urlOn(host, p) { return `http://${host}:${new URL(this.server.base).port}${p}`; }

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
  async openAgent(key = this.key, { waitActive = true, agent = AGENTS.agnes } = {}) {
    if (!this.agent) {
      this.agent = await this.agentContext.newPage();
      this._watch(this.agent, 'agent');
    }
    const auth = new URLSearchParams(loginKeyParams(agent)).toString();
    await this.agent.goto(this.e2e.url(`/agentjoin/AgentView.aspx?SessionKey=${encodeURIComponent(key)}&wait=1&${auth}`));
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

  /** This scenario's artifacts directory (tests/e2e/artifacts/<test name>). */
  artifactsDir() {
    return path.join(ARTIFACTS_DIR, this.name.replace(/[^\w.-]+/g, '_').slice(0, 80));
  }

  async dumpArtifacts() {
    const dir = this.artifactsDir();
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
 *
 * Node kinds: `document`, `el`, `text`, `comment`, `doctype`, and two pseudo-children:
 * - `{k: 'shadow'}` (path label `#shadow-root`): an element's OPEN shadow root (`el.shadowRoot`),
 *   placed before the element's light children. The mirror must use open shadow roots too.
 * - `{k: 'document'}` (path label `#document`): an `<iframe>`'s document, placed before the
 *   iframe's light children.
 * Every `<iframe>` carries `frame`:
 * - `'document'`: its document is compared (pseudo-child `#document`);
 * - `'placeholder'`: a leaf (no children at all). Visitor: `contentDocument` is null (cross-origin,
 *   or sandboxed without allow-same-origin), or no engine runs in the frame
 *   (`!contentWindow.GLANCE`) and it is cross-origin or sandboxed without allow-scripts.
 *   Mirror: the iframe has `data-glance-frame="placeholder"` (and only then);
 * - `'inaccessible'` (mirror only): not marked as a placeholder, yet its document is unreadable.
 * Element STATE fields, compared like attributes: `value` (input except file, textarea, select),
 * `checked` (checkbox, radio), `selected` (select: indices of the selected options), `open`
 * (details, dialog), `modal` (dialog matching `:modal`), `popoverOpen` (`[popover]` matching
 * `:popover-open`), `paused` (video, audio). Masked subtrees are placeholders `{masked: true}`:
 * nothing below or inside them (state included; password inputs are always mask roots) is read.
 * Mask selectors are matched per element (`el.matches`), so they apply within each document and
 * each shadow root, never across a shadow or frame boundary.
 * Attributes ignored: `on*`, `data-glance-masked`, all but `type` on scripts, `src`/`srcdoc` on
 * iframes, `href`/`target` on `<base>` (the mirror carries no base: it has absolute URLs instead),
 * and on the mirror side every `data-glance-*` attribute (viewer markers such as
 * `data-glance-focus`, `data-glance-hover`, `data-glance-frame`).
 * URL attributes (href, src, action, poster, srcset, imagesrcset) and CSS url() are compared as
 * absolute URLs: visitor side against each document's base URI, mirror side against `base` (the
 * visitor's top document base).
 * data-gid: every visitor element outside mask roots must carry one; gids are unique across the
 * whole visitor page (top document, shadow roots and mirrored frame documents: one gid space).
 */
export function serializeInPage(arg) {
  const { which, base, masks, mirrorMasked } = arg;
  const isMirror = which !== 'visitor';
  let doc;
  if (!isMirror) doc = document;
  else {
    const frame = document.querySelector('#glance-mirror');
    if (!frame) return { error: 'agent page has no #glance-mirror iframe' };
    doc = frame.contentDocument;
    if (!doc) return { error: '#glance-mirror has no contentDocument (is it sandbox="allow-same-origin"?)' };
    if (!doc.documentElement) return { error: 'mirror document is empty' };
  }
  const URL_ATTRS = new Set(['href', 'src', 'action', 'poster']);
  const SRCSET_ATTRS = new Set(['srcset', 'imagesrcset']);
  const mirrorMaskedSet = new Set(mirrorMasked || []);
  const gidProblems = [];
  const seenGids = new Map();
  const maskedGids = [];

  const abs = (v, b) => {
    try { return new URL(v.trim(), b).href; } catch (e) { return v; }
  };
  const cssUrls = (css, b) => css.replace(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/g,
    (m, x, y, z) => 'url("' + abs(x ?? y ?? z ?? '', b) + '")');
  const srcset = (v, b) => v.split(',').map((part) => {
    const m = /^\s*(\S+)\s*(.*?)\s*$/.exec(part);
    return m ? (abs(m[1], b) + (m[2] ? ' ' + m[2].replace(/\s+/g, ' ') : '')) : '';
  }).filter((p) => p).join(', ');

  function attrsOf(el, tag, b) {
    const out = [];
    for (const a of Array.from(el.attributes)) {
      const n = a.name;
      let v = a.value;
      if (/^on/i.test(n)) continue;
      if (n === 'data-glance-masked') continue;
      if (isMirror && n.startsWith('data-glance-')) continue;
      if (tag === 'script' && n !== 'type') continue;
      if (tag === 'iframe' && (n === 'src' || n === 'srcdoc')) continue;
      if (tag === 'base' && (n === 'href' || n === 'target')) continue;
      if (URL_ATTRS.has(n)) {
        v = abs(v, b);
        if (/^javascript:/i.test(v)) continue;
      }
      if (SRCSET_ATTRS.has(n)) v = srcset(v, b);
      if (n === 'style') v = cssUrls(v, b);
      out.push([n, v]);
    }
    out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return out;
  }

  function isMaskRoot(el) {
    if (isMirror) return el.hasAttribute('data-glance-masked');
    for (const sel of masks) {
      try { if (el.matches(sel)) return true; } catch (e) { /* bad selector */ }
    }
    // A password field toggled to type=text stays masked (the engine remembers): trust the mirror for inputs.
    const gid = el.getAttribute('data-gid');
    return el.localName === 'input' && gid !== null && mirrorMaskedSet.has(gid);
  }

  function checkGid(el, inMask) {
    if (isMirror) return;
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
    s += '>';
    const root = el.getRootNode();
    if (root && root.host) s += ' (in the shadow root of ' + describe(root.host) + ')';
    else if (el.ownerDocument !== doc) s += ' (in the frame ' + el.ownerDocument.URL + ')';
    return s;
  }

  const matches = (el, sel) => { try { return el.matches(sel); } catch (e) { return undefined; } };

  /** The iframe's document to descend into, or a string: 'placeholder' | 'inaccessible'. */
  function frameDocument(el) {
    let d = null;
    try { d = el.contentDocument; } catch (e) { d = null; }
    if (isMirror) {
      if (el.getAttribute('data-glance-frame') === 'placeholder') return 'placeholder';
      return d || 'inaccessible';
    }
    if (!d) return 'placeholder'; // cross-origin, or sandboxed into an opaque origin
    let engine = false;
    try { engine = !!(el.contentWindow && el.contentWindow.GLANCE); } catch (e) { engine = false; }
    let crossOrigin = false;
    try { void el.contentWindow.location.href; } catch (e) { crossOrigin = true; }
    const noScripts = el.hasAttribute('sandbox') && !el.sandbox.contains('allow-scripts');
    if (!engine && (crossOrigin || noScripts)) return 'placeholder';
    return d;
  }

  function state(el, tag, out) {
    if (el.namespaceURI !== 'http://www.w3.org/1999/xhtml') return;
    if (tag === 'input' || tag === 'textarea' || tag === 'select') {
      const type = (el.getAttribute('type') || '').toLowerCase();
      if (tag !== 'input' || type !== 'file') out.value = el.value;
      if (tag === 'input' && (type === 'checkbox' || type === 'radio')) out.checked = el.checked;
    }
    if (tag === 'select') {
      out.selected = [];
      Array.from(el.options).forEach((o, i) => { if (o.selected) out.selected.push(i); });
    }
    if (tag === 'details' || tag === 'dialog') out.open = el.open;
    if (tag === 'dialog') out.modal = matches(el, ':modal');
    if (el.hasAttribute('popover')) out.popoverOpen = matches(el, ':popover-open');
    if (tag === 'video' || tag === 'audio') out.paused = el.paused;
  }

  function serKids(parent, b) {
    const kids = [];
    for (let c = parent.firstChild; c; c = c.nextSibling) {
      const r = ser(c, b);
      if (r) kids.push(r);
    }
    return kids;
  }

  function serDocument(d) {
    return { k: 'document', kids: serKids(d, isMirror ? base : d.baseURI) };
  }

  function ser(node, b) {
    switch (node.nodeType) {
      case 1: {
        const el = node;
        const tag = el.localName;
        // The engine's own overlay (agent pointer, outline) is never captured.
        if (!isMirror && (tag === 'glance-overlay' || tag === 'glance-cobrowse-ui')) return null;
        // Scripts keep only `type` (PROTOCOL.md), so their data-gid is not compared either.
        const gid = tag === 'script' ? null : el.getAttribute('data-gid');
        checkGid(el, false);
        if (isMaskRoot(el)) {
          maskedGids.push(gid);
          // Inside the visitor's mask root only gids are checked (no comparison of the subtree).
          if (!isMirror) for (const d of el.querySelectorAll('*')) checkGid(d, true);
          return { k: 'el', tag, gid, masked: true };
        }
        const out = { k: 'el', tag, gid, attrs: attrsOf(el, tag, b) };
        if (el.namespaceURI && el.namespaceURI !== 'http://www.w3.org/1999/xhtml') out.ns = el.namespaceURI;
        state(el, tag, out);
        out.kids = [];
        if (tag === 'script') return out;
        if (el.shadowRoot) out.kids.push({ k: 'shadow', kids: serKids(el.shadowRoot, b) });
        if (tag === 'iframe' && out.ns === undefined) {
          const d = frameDocument(el);
          if (typeof d === 'string') { out.frame = d; return out; } // a leaf
          out.frame = 'document';
          out.kids.push(serDocument(d));
        }
        out.kids.push(...serKids(el, b));
        if (tag === 'style') for (const k of out.kids) if (k.k === 'text') k.d = cssUrls(k.d, b);
        return out;
      }
      case 3: return { k: 'text', d: node.data };
      case 4: return { k: 'text', d: node.data };
      case 8: return { k: 'comment', d: node.data };
      case 10: return { k: 'doctype', name: node.name };
      default: return null;
    }
  }

  return { tree: serDocument(doc), gidProblems, maskedGids };
}

/** State fields of serialized elements (see serializeInPage), in comparison order. */
const STATE_FIELDS = ['value', 'checked', 'selected', 'open', 'modal', 'popoverOpen', 'paused'];

function describeNode(n) {
  if (!n) return '(nothing)';
  const cut = (s, l = 80) => (s.length > l ? JSON.stringify(s.slice(0, l)) + '…' : JSON.stringify(s));
  switch (n.k) {
    case 'el': {
      if (n.masked) return `<${n.tag} data-gid=${n.gid}> (masked)`;
      const attrs = n.attrs.map(([a, v]) => `${a}=${cut(v, 60)}`).join(' ');
      let s = `<${n.tag}${attrs ? ' ' + attrs : ''}>`;
      for (const f of STATE_FIELDS) {
        if (f in n) s += ` .${f}=${typeof n[f] === 'string' ? cut(n[f]) : JSON.stringify(n[f])}`;
      }
      if (n.frame) s += ` (frame: ${n.frame})`;
      return s;
    }
    case 'text': return `#text ${cut(n.d)}`;
    case 'comment': return `#comment ${cut(n.d)}`;
    case 'doctype': return `<!doctype ${n.name}>`;
    case 'shadow': return `#shadow-root (${n.kids.length} children)`;
    case 'document': return `#document (${n.kids.length} children)`;
    default: return n.k;
  }
}

function label(n, i) {
  if (n.k === 'shadow') return '#shadow-root';
  if (n.k === 'document') return '#document';
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
      for (const f of STATE_FIELDS) {
        const a = JSON.stringify(v[f]), b = JSON.stringify(m[f]);
        if (a !== b) return diff(`.${f} differs: visitor ${a ?? '(none)'}, mirror ${b ?? '(none)'}`);
      }
      if (v.frame !== m.frame) return diff(`iframe differs: visitor frame is "${v.frame}", mirror frame is "${m.frame}"`);
      break;
    case 'document': case 'shadow': break;
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

// --------------------------------------------------------------------------------------------
// Element inspection by gid (computed style, media, images), deep through shadow roots and frames
// --------------------------------------------------------------------------------------------

/**
 * Runs inside a page. Finds elements of the visitor document (`which: 'visitor'`) or of the mirror
 * (`which: 'mirror'`), deep through open shadow roots and readable iframe documents (mirror: not
 * those marked data-glance-frame="placeholder"), that match `selector` or carry a `data-gid` in
 * `gids` or carry attribute `withAttr`, and reports for each: gid, tag, id, attributes, computed
 * `props` (also of ::before/::after `content`), image/media state and the viewport rect (frame
 * offsets added). Self-contained.
 */
export function inspectInPage({ which, selector, gids, withAttr, props }) {
  let root;
  if (which === 'visitor') root = document;
  else {
    const f = document.querySelector('#glance-mirror');
    root = f && f.contentDocument;
    if (!root) return { error: 'no mirror document' };
  }
  const want = new Set((gids || []).map(String));
  const out = [];
  function visit(scope, dx, dy) {
    for (const el of scope.querySelectorAll('*')) {
      const gid = el.getAttribute('data-gid');
      let hit = false;
      if (selector) { try { hit = el.matches(selector); } catch (e) { hit = false; } }
      if (gid !== null && want.has(gid)) hit = true;
      if (withAttr && el.hasAttribute(withAttr)) hit = true;
      if (hit) {
        const view = el.ownerDocument.defaultView;
        const cs = view.getComputedStyle(el);
        const styles = {};
        for (const p of props || []) styles[p] = cs.getPropertyValue(p);
        const r = el.getBoundingClientRect();
        const attrs = {};
        for (const a of Array.from(el.attributes)) attrs[a.name] = a.value;
        out.push({
          gid, tag: el.localName, id: el.id || null, attrs, styles,
          before: view.getComputedStyle(el, '::before').getPropertyValue('content'),
          after: view.getComputedStyle(el, '::after').getPropertyValue('content'),
          currentSrc: 'currentSrc' in el ? el.currentSrc : undefined,
          complete: 'complete' in el ? el.complete : undefined,
          naturalWidth: 'naturalWidth' in el ? el.naturalWidth : undefined,
          paused: 'paused' in el ? el.paused : undefined,
          rect: { x: r.x + dx, y: r.y + dy, width: r.width, height: r.height },
        });
      }
      if (el.shadowRoot) visit(el.shadowRoot, dx, dy);
      if (el.localName === 'iframe') {
        if (which !== 'visitor' && el.getAttribute('data-glance-frame') === 'placeholder') continue;
        let d = null;
        try { d = el.contentDocument; } catch (e) { d = null; }
        if (d) {
          const r = el.getBoundingClientRect();
          visit(d, dx + r.x + el.clientLeft, dy + r.y + el.clientTop);
        }
      }
    }
  }
  visit(root, 0, 0);
  return { elements: out };
}

/** inspectInPage on one side ('visitor' | 'mirror') of a scenario. */
export async function inspect(s, which, query) {
  const page = which === 'visitor' ? s.visitor : s.agent;
  const r = await page.evaluate(inspectInPage, { which, ...query });
  if (r.error) throw new Error(`inspect(${which}): ${r.error}`);
  return r.elements;
}

/**
 * Polls until every visitor element matching `selector` (deep: shadow roots, frames) has a mirror
 * element with the same data-gid whose computed `props` are equal. Throws with the differences.
 */
export async function computedStylesMatch(s, { selector = '[data-check-style]', props, timeout = MIRROR_TIMEOUT_MS } = {}) {
  const deadline = Date.now() + timeout;
  let problems;
  for (;;) {
    const vis = await inspect(s, 'visitor', { selector, props });
    if (!vis.length) throw new Error(`computedStylesMatch: no visitor element matches ${selector}`);
    const mir = await inspect(s, 'mirror', { gids: vis.map((v) => v.gid).filter((g) => g !== null), props });
    const byGid = new Map(mir.map((m) => [m.gid, m]));
    problems = [];
    for (const v of vis) {
      const name = `<${v.tag}${v.id ? ' id=' + v.id : ''} data-gid=${v.gid}>`;
      const m = v.gid !== null ? byGid.get(v.gid) : null;
      if (!m) { problems.push(`${name}: no mirror element with this data-gid`); continue; }
      for (const p of props) {
        if (v.styles[p] !== m.styles[p]) problems.push(`${name} ${p}: visitor ${JSON.stringify(v.styles[p])}, mirror ${JSON.stringify(m.styles[p])}`);
      }
    }
    if (!problems.length) return vis;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`computed styles differ after ${timeout} ms:\n  ` + problems.slice(0, 12).join('\n  '));
}

// --------------------------------------------------------------------------------------------
// Screenshot comparison
// --------------------------------------------------------------------------------------------

/**
 * Runs inside the visitor page: viewport rects that the mirror cannot show like the page and that
 * screenshot comparison therefore skips: mask roots (group masks + always-masked selectors, matched
 * in every document and shadow root) and placeholder iframes (serializeInPage's visitor rule).
 */
export function excludedRegionsInPage({ masks }) {
  const out = [];
  function isPlaceholderFrame(el) {
    let d = null;
    try { d = el.contentDocument; } catch (e) { d = null; }
    if (!d) return true;
    let engine = false;
    try { engine = !!(el.contentWindow && el.contentWindow.GLANCE); } catch (e) { engine = false; }
    const noScripts = el.hasAttribute('sandbox') && !el.sandbox.contains('allow-scripts');
    return !engine && noScripts;
  }
  function add(el, dx, dy, why) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) out.push({ x: r.x + dx, y: r.y + dy, width: r.width, height: r.height, why });
  }
  function visit(scope, dx, dy) {
    const skip = new Set();
    for (const el of scope.querySelectorAll('*')) {
      let inside = false;
      for (let p = el.parentElement; p; p = p.parentElement) if (skip.has(p)) { inside = true; break; }
      if (inside) continue;
      if (masks.some((sel) => { try { return el.matches(sel); } catch (e) { return false; } })) {
        add(el, dx, dy, 'mask root ' + el.localName + (el.id ? '#' + el.id : ''));
        skip.add(el);
        continue;
      }
      if (el.shadowRoot) visit(el.shadowRoot, dx, dy);
      if (el.localName === 'iframe') {
        if (isPlaceholderFrame(el)) { add(el, dx, dy, 'placeholder iframe' + (el.id ? '#' + el.id : '')); continue; }
        const r = el.getBoundingClientRect();
        visit(el.contentDocument, dx + r.x + el.clientLeft, dy + r.y + el.clientTop);
      }
    }
  }
  visit(document, 0, 0);
  return out;
}

let PNG = null;
async function png() {
  if (!PNG) {
    try {
      ({ PNG } = await import('pngjs'));
    } catch (e) {
      throw new Error('pngjs is missing: run `npm install` in tests/e2e (it is a devDependency)');
    }
  }
  return PNG;
}

/** Decoded RGBA images of the visitor viewport and the mirror iframe, plus excluded regions. */
async function takeScreenshots(s) {
  const box = await s.agent.evaluate(() => {
    const f = document.querySelector('#glance-mirror');
    const b = document.querySelector('#glance-frame-box');
    if (!f) return null;
    const r = f.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, scale: b && b.dataset.scale };
  });
  if (!box) throw new Error('compareScreenshots: the agent page has no #glance-mirror');
  if (box.scale !== '1') throw new Error(`compareScreenshots: mirror scale is ${box.scale}, need 1 (agent viewport too small?)`);
  const regions = await s.visitor.evaluate(excludedRegionsInPage, { masks: s.e2e.masks });
  // Hide text carets on the visitor side only while the screenshot is taken (blinking caret = flakes).
  const frames = s.visitor.frames();
  const hide = (on) => Promise.all(frames.map((f) => f.evaluate((on) => {
    const id = '__e2e_hide_caret';
    const old = document.getElementById(id);
    if (old) old.remove();
    // The default visitor UI (border, button, box) is the visitor's only: not in the mirror.
    const ui = document.querySelector('glance-cobrowse-ui');
    const root = ui && ui.shadowRoot && ui.shadowRoot.getElementById('glance_ui');
    if (root) root.style.visibility = on ? 'hidden' : '';
    if (!on) return;
    const st = document.createElement('style');
    st.id = id;
    st.textContent = '*, *::before, *::after { caret-color: transparent !important; }';
    (document.head || document.documentElement).appendChild(st);
  }, on).catch(() => {})));
  await hide(true);
  let visitorPng;
  try {
    visitorPng = await s.visitor.screenshot({ type: 'png', scale: 'css', caret: 'initial', timeout: 10000 });
  } finally {
    await hide(false);
  }
  const clip = { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) };
  const mirrorPng = await s.agent.screenshot({ type: 'png', scale: 'css', caret: 'initial', clip, timeout: 10000 });
  const P = await png();
  return { visitor: P.sync.read(visitorPng), mirror: P.sync.read(mirrorPng), visitorPng, mirrorPng, regions };
}

/** Pixel comparison: a pixel differs when any channel differs by more than `threshold`. */
function diffImages(a, b, regions, threshold, clip) {
  const width = Math.min(a.width, b.width), height = Math.min(a.height, b.height);
  const excluded = new Uint8Array(width * height);
  let outside = 0;
  if (clip) {
    // Only the clip rect is compared: everything else counts as excluded (not in `total`).
    const x0 = Math.max(0, Math.floor(clip.x)), y0 = Math.max(0, Math.floor(clip.y));
    const x1 = Math.min(width, Math.ceil(clip.x + clip.width)), y1 = Math.min(height, Math.ceil(clip.y + clip.height));
    excluded.fill(2);
    for (let y = y0; y < y1; y++) if (x1 > x0) excluded.fill(0, y * width + x0, y * width + x1);
    for (let i = 0; i < excluded.length; i++) if (excluded[i]) outside++;
  }
  for (const r of regions) {
    const x0 = Math.max(0, Math.floor(r.x) - 2), y0 = Math.max(0, Math.floor(r.y) - 2);
    const x1 = Math.min(width, Math.ceil(r.x + r.width) + 2), y1 = Math.min(height, Math.ceil(r.y + r.height) + 2);
    for (let y = y0; y < y1; y++) {
      for (let i = y * width + x0; i < y * width + x1; i++) if (!excluded[i]) excluded[i] = 1;
    }
  }
  const diff = Buffer.alloc(width * height * 4);
  let diffPixels = 0, excludedPixels = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x, ia = (y * a.width + x) * 4, ib = (y * b.width + x) * 4, o = p * 4;
      const gray = (a.data[ia] * 0.3 + a.data[ia + 1] * 0.59 + a.data[ia + 2] * 0.11) * 0.3 + 170;
      if (excluded[p] === 2) { diff[o] = gray * 0.6; diff[o + 1] = gray * 0.6; diff[o + 2] = gray * 0.6; diff[o + 3] = 255; continue; }
      if (excluded[p]) {
        excludedPixels++;
        diff[o] = gray * 0.8; diff[o + 1] = gray * 0.8; diff[o + 2] = 255; diff[o + 3] = 255;
        continue;
      }
      const differs = Math.abs(a.data[ia] - b.data[ib]) > threshold || Math.abs(a.data[ia + 1] - b.data[ib + 1]) > threshold ||
        Math.abs(a.data[ia + 2] - b.data[ib + 2]) > threshold;
      if (differs) { diffPixels++; diff[o] = 255; diff[o + 1] = 0; diff[o + 2] = 0; diff[o + 3] = 255; } else {
        diff[o] = gray; diff[o + 1] = gray; diff[o + 2] = gray; diff[o + 3] = 255;
      }
    }
  }
  const sizeMismatch = a.width !== b.width || a.height !== b.height;
  const total = width * height - excludedPixels - outside;
  return {
    diffRatio: sizeMismatch ? 1 : (total > 0 ? diffPixels / total : 0),
    diffPixels, total, width, height, excludedPixels,
    sizeMismatch: sizeMismatch ? `visitor ${a.width}x${a.height}, mirror ${b.width}x${b.height}` : null,
    diff,
  };
}

/**
 * Compares a viewport screenshot of the visitor page with a screenshot of the mirror iframe
 * (`#glance-mirror`, clipped to its box; the agent viewport keeps it at scale 1). Mask roots and
 * placeholder iframes are excluded (excludedRegionsInPage, 2 px margin); a pixel differs when any
 * channel differs by more than `threshold` (48). Returns {diffRatio, diffPixels, total, width,
 * height, excludedPixels, regions, ok}; `total` counts the compared (non-excluded) pixels.
 * With `clip` ({x, y, width, height} in visitor viewport px, e.g. inspect()'s `rect`) only that
 * rect is compared, so a small element's differences are not diluted by the rest of the page.
 * With `tolerance`, retries until diffRatio <= tolerance or `timeout` ms passed (the mirror may lag a
 * little behind: images, fonts), and on failure writes visitor/mirror/diff PNGs into the test's
 * artifacts dir (`artifacts` in the result; diff image: red = differing, blue = excluded, dark =
 * outside the clip).
 */
export async function compareScreenshots(s, { tolerance = null, threshold = 48, timeout = 3000, label = 'screenshot', clip = null } = {}) {
  const deadline = Date.now() + timeout;
  let shots, r;
  for (;;) {
    shots = await takeScreenshots(s);
    r = diffImages(shots.visitor, shots.mirror, shots.regions, threshold, clip);
    if (tolerance === null || r.diffRatio <= tolerance || Date.now() > deadline) break;
    await sleep(250);
  }
  const result = {
    diffRatio: r.diffRatio, diffPixels: r.diffPixels, total: r.total, width: r.width, height: r.height,
    excludedPixels: r.excludedPixels, sizeMismatch: r.sizeMismatch, regions: shots.regions,
    ok: tolerance === null ? undefined : r.diffRatio <= tolerance,
  };
  if (tolerance !== null && !result.ok) {
    const dir = s.artifactsDir();
    fs.mkdirSync(dir, { recursive: true });
    const P = await png();
    const img = new P({ width: r.width, height: r.height });
    r.diff.copy(img.data);
    const stem = label.replace(/[^\w.-]+/g, '_');
    fs.writeFileSync(path.join(dir, `${stem}-visitor.png`), shots.visitorPng);
    fs.writeFileSync(path.join(dir, `${stem}-mirror.png`), shots.mirrorPng);
    fs.writeFileSync(path.join(dir, `${stem}-diff.png`), P.sync.write(img));
    result.artifacts = path.relative(ROOT, path.join(dir, `${stem}-diff.png`));
  }
  return result;
}
