// One measured run: a fresh browser context, the page, the recorder under test, a CDP trace of
// the window, messages, memory, and (when asked) the correctness check of what was emitted.
import { createRequire } from 'node:module';
import path from 'node:path';
import { INSTRUMENT, PAGE_FACTS, START, STEP, MESSAGES, RELEASE, RRWEB_CHECK, PATCH_WALKER } from './inpage.mjs';
import { TRACE_CATEGORIES, parseTrace, analyzeWindows } from './trace.mjs';
import { BENCH_DIR, sleep } from './common.mjs';

const require = createRequire(path.join(BENCH_DIR, 'package.json'));
const { decode: clarityDecode } = require('clarity-decode');

const MB = 2 ** 20;
const CLARITY_DELAY_MS = 25;
/** How long the page must stay without a new message before a window closes. Clarity processes
 * mutations in idle-time slices and uploads on a timer, so it gets longer. */
const quietFor = (engine, snapshot = false) => (engine === 'clarity' ? (snapshot ? 1000 : 1500) : 400);
/** Script URLs of each recorder (trace FunctionCall events), for its own tasks. */
const OWN_URL = { glance: /\/cobrowse\//, 'glance-unsliced': /\/cobrowse\//, rrweb: /rrweb/, clarity: /clarity/, mo: /(?!)/, none: /(?!)/ };

async function openVisitor(env, { url, engine, counting = false }) {
  const ctx = await env.browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => env.log(`  [page error] ${e.message}`));
  await page.addInitScript(INSTRUMENT, { counting });
  // Peers load as init scripts: no extra node in the DOM, so every engine sees the same page.
  if (engine === 'rrweb') await page.addInitScript({ path: env.rrwebPath });
  else if (engine === 'clarity') await page.addInitScript({ path: env.clarityPath });
  await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  if (engine.startsWith('glance')) {
    const ok = await page.evaluate(async () => !!(await window.GLANCE.Cobrowse.Loader.ready));
    if (!ok) throw new Error('engine did not load');
  }
  const cdp = await ctx.newCDPSession(page);
  return { ctx, page, cdp };
}

async function heapAfterGc(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}

async function traced(env, page, fn) {
  await env.browser.startTracing(page, { categories: TRACE_CATEGORIES });
  let r, err;
  try { r = await fn(); } catch (e) { err = e; }
  const buf = await env.browser.stopTracing();
  if (err) throw err;
  return { r, events: parseTrace(buf) };
}

/** harness.serializeInPage run in the page, returned as one JSON string (fast to transfer). */
async function serializeFast(env, page, arg) {
  const src = env.harness.serializeInPage.toString();
  return JSON.parse(await page.evaluate(`JSON.stringify((${src})(${JSON.stringify(arg)}))`));
}

/**
 * Correctness of our engine: the agent viewer's mirror equals the page. Uses the e2e harness's own
 * normalizing serializer and tree comparison (tests/e2e/harness.mjs serializeInPage,
 * firstDifference: the logic of its compareOnce), with the trees moved as JSON strings so that a
 * 330k-node comparison stays fast. Waits until the viewer has applied the server's last message.
 */
export async function checkGlance(env, page, timeoutMs = 60_000) {
  const key = await page.evaluate(() => { const s = window.GLANCE.Cobrowse.Visitor.getSessionState(); return s && s.sessionKey; });
  if (!key) return { ok: false, report: 'no session key' };
  const actx = await env.browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const agent = await actx.newPage();
    await agent.goto(env.url(`/agentjoin/AgentView.aspx?SessionKey=${encodeURIComponent(key)}&wait=1`));
    const deadline = Date.now() + timeoutMs;
    let report = '';
    for (let attempt = 0; ; attempt++) {
      const info = await env.server.sessionInfo(key);
      const last = info.body || {};
      await agent.waitForFunction((l) => {
        const v = window.glanceViewer;
        return document.body && document.body.dataset.state === 'active' && v && v.snapshots > 0 && v.page === l.page && v.seq >= l.seq;
      }, last, { timeout: Math.max(1000, deadline - Date.now()), polling: 100 }).catch(() => {});
      const base = await page.evaluate(() => document.baseURI);
      const mirror = await serializeFast(env, agent, { which: 'mirror', base, masks: [], mirrorMasked: [] });
      if (mirror.error) report = mirror.error;
      else {
        const vis = await serializeFast(env, page, { which: 'visitor', base, masks: env.masks, mirrorMasked: mirror.maskedGids });
        const d = env.harness.firstDifference(vis.tree, mirror.tree);
        const problems = [];
        if (vis.gidProblems.length) problems.push(`visitor data-gid problems (${vis.gidProblems.length}): ${vis.gidProblems.slice(0, 3).join('; ')}`);
        if (d) problems.push(`first mismatch at ${d.path}: ${d.what}; visitor ${d.visitor}; mirror ${d.mirror}`);
        if (!problems.length) {
          let n = 0;
          const st = [mirror.tree];
          while (st.length) { const x = st.pop(); n++; if (x.kids) for (const k of x.kids) st.push(k); }
          return { ok: true, mirror_nodes: n - 1, report: `agent mirror equals the page (${n - 1} nodes; e2e harness serializer + firstDifference)` };
        }
        report = problems.join('\n');
      }
      if (Date.now() > deadline) break;
      await sleep(300);
    }
    return { ok: false, report };
  } finally {
    await actx.close().catch(() => {});
  }
}

/** Correctness of clarity: its payloads decode (clarity-decode) and the Discover event lists every node. */
function checkClarity(payloads, facts) {
  let discover = 0, mutations = 0, decoded = 0;
  try {
    for (const p of payloads) {
      const d = clarityDecode(p);
      decoded++;
      for (const ev of d.dom || []) {
        if (ev.event === 5) discover += ev.data.length;
        else if (ev.event === 6) mutations += ev.data.length;
      }
    }
  } catch (e) {
    return { ok: false, report: `clarity-decode failed on payload ${decoded}: ${e.message}` };
  }
  const expect = facts.clarity;
  return {
    ok: discover === expect,
    discover_nodes: discover, mutation_nodes: mutations, page_nodes: expect,
    report: `decoded ${decoded} payloads (clarity-decode): Discover lists ${discover} nodes, page has ${expect} ` +
      `nodes clarity captures (no comments, meta, script; style text as a value); node count only`,
  };
}

function memoryFields(base, peak, retained, wasm) {
  return {
    heap_base_mb: base / MB,
    heap_peak_mb: peak ? peak / MB : null,
    heap_peak_delta_mb: peak ? Math.max(0, peak - base) / MB : null,
    heap_retained_delta_mb: (retained - base) / MB,
    wasm_mb: wasm / MB,
  };
}

/**
 * A full-snapshot run. engine: glance | glance-unsliced | rrweb | clarity | floors.
 * Returns one record (two for floors: outerHTML and walk).
 */
export async function snapshotRun(env, { url, engine, throttle = 1, check = false }) {
  const { ctx, page, cdp } = await openVisitor(env, { url, engine });
  try {
    const facts = await page.evaluate(PAGE_FACTS);
    await sleep(100);
    const heap0 = await heapAfterGc(cdp);
    const wasm0 = engine.startsWith('glance') ? await page.evaluate(() => window.GLANCE.Cobrowse.Loader.memory()) : 0;
    if (throttle !== 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
    const opts = { engine, masks: env.masks, quietMs: quietFor(engine, true), timeoutMs: 120_000 * throttle, maxTrailMs: 3000 * throttle, settleMs: 5000 * throttle, clarityDelay: CLARITY_DELAY_MS };
    const { r, events } = await traced(env, page, () => page.evaluate(START, opts));
    if (throttle !== 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
    if (engine === 'floors') {
      const w = analyzeWindows(events, [
        { name: 'outer', start: 'bench:outer:start', end: 'bench:outer:end' },
        { name: 'walk', start: 'bench:walk:start', end: 'bench:walk:end' },
      ]);
      const m = await page.evaluate(MESSAGES, { from: Infinity, to: 0, engine, html: true });
      const common = { throttle, nodes: facts.nodes, elements: facts.elements };
      return [
        { engine: 'outerHTML', ...common, ttl_ms: r.outerEnd - r.outerStart, main_ms: w.outer.main_ms, longest_ms: w.outer.longest_ms, over50: w.outer.over50, raw_bytes: m.htmlBytes, gzip_bytes: m.htmlGzip },
        { engine: 'walk', ...common, ttl_ms: r.walkEnd - r.walkStart, main_ms: w.walk.main_ms, longest_ms: w.walk.longest_ms, over50: w.walk.over50, walked: r.walkNodes },
      ];
    }
    const w = analyzeWindows(events, [{ name: 'run', start: 'bench:start', end: 'bench:end', own: { url: OWN_URL[engine], startTask: true } }]).run;
    if (w.error) throw new Error(w.error);
    const glance = engine.startsWith('glance');
    const m = await page.evaluate(MESSAGES, { from: r.start, to: r.snapAt || r.end, engine, snapAt: glance ? r.snapAt : null, keepPayloads: check && engine === 'clarity' });
    if (glance && r.snapAt && !m.snapVerified) throw new Error('the frame taken as the snapshot is not a snap message');
    const wasm = glance ? await page.evaluate(() => window.GLANCE.Cobrowse.Loader.memory()) : 0;
    let correctness = null;
    if (check) {
      if (glance) correctness = await checkGlance(env, page);
      else if (engine === 'rrweb') correctness = await page.evaluate(RRWEB_CHECK, { masks: env.masks });
      else if (engine === 'clarity') correctness = checkClarity(m.payloads || [], facts);
      delete m.payloads;
    }
    await page.evaluate(RELEASE);
    const retained = await heapAfterGc(cdp);
    const rec = {
      engine, throttle, nodes: facts.nodes, elements: facts.elements,
      ttl_ms: r.snapAt ? r.snapAt - (glance ? r.welcome : r.start) : null,
      ttl_from_call_ms: r.snapAt ? r.snapAt - r.start : null,
      main_ms: w.main_ms, longest_ms: w.longest_ms, over50: w.over50, window_ms: w.window_ms,
      own_main_ms: w.own_main_ms, own_longest_ms: w.own_longest_ms, own_over50: w.own_over50, own_longest_parts: w.own_longest_parts,
      raw_bytes: m.raw, wire_bytes: m.wire, snap_wire_bytes: m.snapWire, gzip_bytes: m.gzip, messages: m.count, binary_frames: m.binary, types: m.types,
      snapshot_nodes: m.snapshotNodes ?? null,
      ...memoryFields(heap0, w.heap_peak, retained, wasm),
      wasm_growth_mb: (wasm - wasm0) / MB,
      timeout: !!r.timeout, gid_settled: r.gidSettled,
    };
    if (correctness) rec.correct = correctness;
    if (glance) await page.evaluate(() => window.GLANCE.Cobrowse.Visitor.stopSession()).catch(() => {});
    return [rec];
  } finally {
    await ctx.close().catch(() => {});
  }
}

/**
 * A mutation scenario: snapshot first (untimed), then each step traced on its own.
 * engine: glance | rrweb | clarity | mo (bare MutationObserver) | none (no recorder).
 */
export async function mutationRun(env, { url, engine, steps, check = false, checkAfter = [], churnMs = 5000 }) {
  const { ctx, page, cdp } = await openVisitor(env, { url, engine });
  try {
    const facts = await page.evaluate(PAGE_FACTS);
    const glance = engine.startsWith('glance');
    const r0 = await page.evaluate(START, { engine, masks: env.masks, quietMs: quietFor(engine), timeoutMs: 60_000, clarityDelay: CLARITY_DELAY_MS });
    if (r0.timeout) throw new Error(`${engine}: no snapshot`);
    const recs = [];
    let round = 0;
    for (const step of steps) {
      round++;
      const heap0 = await heapAfterGc(cdp);
      const wasm0 = glance ? await page.evaluate(() => window.GLANCE.Cobrowse.Loader.memory()) : 0;
      const { r, events } = await traced(env, page, () => page.evaluate(STEP, { step, round, quietMs: quietFor(engine), timeoutMs: 60_000, churnMs }));
      const w = analyzeWindows(events, [{ name: 's', start: `bench:${step}:start`, end: `bench:${step}:end`, own: { url: OWN_URL[engine], startTask: false } }]).s;
      if (w.error) throw new Error(w.error);
      const m = await page.evaluate(MESSAGES, { from: r.start, to: r.end, engine });
      const wasm = glance ? await page.evaluate(() => window.GLANCE.Cobrowse.Loader.memory()) : 0;
      const peak = w.heap_peak;
      recs.push({
        engine, step, throttle: 1, nodes: facts.nodes,
        ttl_ms: r.lastOut ? r.lastOut - r.start : r.mutEnd - r.start,
        mutation_ms: r.mutEnd - r.start,
        lag_ms: r.lastOut ? Math.max(0, r.lastOut - r.mutEnd) : null,
        main_ms: w.main_ms, longest_ms: w.longest_ms, over50: w.over50, window_ms: w.window_ms,
        own_main_ms: w.own_main_ms, own_longest_ms: w.own_longest_ms, own_over50: w.own_over50, own_longest_parts: w.own_longest_parts,
        raw_bytes: m.raw, wire_bytes: m.wire, gzip_bytes: m.gzip, messages: m.count, binary_frames: m.binary, types: m.types,
        frames: r.frames ?? null,
        heap_base_mb: heap0 / MB, heap_peak_mb: peak ? peak / MB : null, heap_peak_delta_mb: peak ? Math.max(0, peak - heap0) / MB : null,
        wasm_mb: wasm / MB, wasm_growth_mb: (wasm - wasm0) / MB,
      });
      // Ours: the agent mirror is compared with the page after the last step of each scenario
      // (untimed, between the traced windows).
      if (check && glance && checkAfter.includes(step)) recs[recs.length - 1].correct = await checkGlance(env, page);
    }
    if (check && engine === 'rrweb') {
      // rrweb: one replay of every event at the end (the Replayer needs the recorder stopped).
      const c = await page.evaluate(RRWEB_CHECK, { masks: env.masks });
      c.report = `after all steps: ${c.report}`;
      for (const rec of recs) rec.correct = c;
    }
    if (glance) await page.evaluate(() => window.GLANCE.Cobrowse.Visitor.stopSession()).catch(() => {});
    return recs;
  } finally {
    await ctx.close().catch(() => {});
  }
}

/**
 * Boundary crossings of our engine (untimed: every wasm import/export call is counted) and, for
 * the snapshot, a sampled CPU profile of where the time goes.
 */
export async function boundaryRun(env, { url, kind, steps = [], counting = true, profile = false, throttle = 1 }) {
  const engine = 'glance';
  const { ctx, page, cdp } = await openVisitor(env, { url, engine, counting });
  if (throttle !== 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  try {
    const facts = await page.evaluate(PAGE_FACTS);
    await page.evaluate(PATCH_WALKER, env.url(env.domSnippet));
    const reset = () => page.evaluate(() => {
      const c = window.__bench.cx;
      c.imports = {}; c.exports = {}; c.total = 0; c.chunks = 0; c.collects = 0; c.collectBatches = 0;
    });
    const read = () => page.evaluate(() => JSON.parse(JSON.stringify(window.__bench.cx)));
    await reset();
    if (profile) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
      await cdp.send('Profiler.start');
    }
    const r0 = await page.evaluate(START, { engine, masks: env.masks, quietMs: 400, timeoutMs: 60_000, clarityDelay: CLARITY_DELAY_MS });
    if (r0.timeout) throw new Error('no snapshot');
    let prof = null;
    if (profile) {
      const { profile: p } = await cdp.send('Profiler.stop');
      prof = summarizeProfile(p, r0);
    }
    const snap = await read();
    const out = { kind, nodes: facts.nodes, snapshot: { crossings: snap.total, slices: snap.chunks, top: top(snap) }, profile: prof, steps: [] };
    for (const step of steps) {
      await reset();
      await page.evaluate(STEP, { step, round: 1, quietMs: 400, timeoutMs: 60_000, churnMs: 1000 });
      const c = await read();
      out.steps.push({ step, crossings: c.total, collects: c.collects, batches: c.collectBatches, per_batch: c.collectBatches ? c.total / c.collectBatches : null, top: top(c) });
    }
    await page.evaluate(() => window.GLANCE.Cobrowse.Visitor.stopSession()).catch(() => {});
    return out;
  } finally {
    await ctx.close().catch(() => {});
  }
}

function top(c) {
  const all = [...Object.entries(c.imports).map(([k, v]) => ['wasm->JS ' + k, v]), ...Object.entries(c.exports).map(([k, v]) => ['JS->wasm ' + k, v])];
  return all.sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => ({ fn: k, calls: v }));
}

const TOP_FNS = Number(process.env.BENCH_TOP_FNS || 12);

/** Self time of a CPU profile, grouped: the JS walker (dom.js), the wasm engine, the glue, GC, other. */
function summarizeProfile(p, r0) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] || 0;
    const id = p.samples[i];
    self.set(id, (self.get(id) || 0) + (p.timeDeltas[i + 1] || 0));
  }
  const groups = {}, fns = {};
  for (const [id, us] of self) {
    const n = byId.get(id);
    const { functionName: f, url } = n.callFrame;
    let g;
    if (f === '(idle)') g = 'idle';
    else if (f === '(garbage collector)') g = 'GC';
    else if (f === '(program)') g = 'browser (program: native, layout, style, messaging)';
    else if (/\.wasm$/.test(url) || /^\$?wasm-function|^\$/.test(f) || n.callFrame.codeType === 'wasm') g = 'wasm engine';
    else if (/\/snippets\/.*dom\.js$/.test(url)) g = 'JS walker (dom.js)';
    else if (/glance_cobrowse\.js$/.test(url)) g = 'wasm-bindgen glue';
    else if (/GlanceCobrowseLoader\.js$/.test(url)) g = 'loader';
    else if (/\/snippets\/.*\.js$/.test(url)) g = 'other engine snippets (send.js)';
    else if (!url) g = 'native DOM / builtins called from JS';
    else g = 'page / bench scripts';
    groups[g] = (groups[g] || 0) + us / 1000;
    if (g !== 'idle') {
      const k = `${f || '(anonymous)'} ${url ? url.replace(/^.*\//, '') + ' ' : ''}[${g}]`;
      fns[k] = (fns[k] || 0) + us / 1000;
    }
  }
  const span = (p.endTime - p.startTime) / 1000;
  return {
    span_ms: Math.round(span), samples: p.samples.length,
    groups_ms: Object.fromEntries(Object.entries(groups).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    top_ms: Object.entries(fns).sort((a, b) => b[1] - a[1]).slice(0, TOP_FNS).map(([k, v]) => ({ fn: k, ms: Math.round(v * 10) / 10 })),
    note: 'sampled V8 CPU profile (100 us interval) of one snapshot run, startSession to settle (no counting wrappers)',
  };
}

/**
 * The correctness checker must be able to fail: snapshot a page, check (must pass), then pause the
 * engine and change the page behind its back, check again (must fail).
 */
export async function checkerSelfTest(env, url) {
  const { ctx, page } = await openVisitor(env, { url, engine: 'glance' });
  try {
    const r = await page.evaluate(START, { engine: 'glance', masks: env.masks, quietMs: 400, timeoutMs: 60_000 });
    if (r.timeout) throw new Error('no snapshot');
    const good = await checkGlance(env, page);
    await page.evaluate(() => { window.GLANCE.Cobrowse.Visitor.pause(true); document.querySelector('td').textContent = 'tampered'; });
    const bad = await checkGlance(env, page, 3000);
    return { ok: good.ok && !bad.ok, untouched: good.report, tampered: bad.report.slice(0, 300) };
  } finally {
    await ctx.close().catch(() => {});
  }
}
