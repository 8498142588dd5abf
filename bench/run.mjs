// Benchmark suite: our engine beside rrweb (record) and clarity-js, in the same headless Chromium
// run, on the same pages, with the floors (outerHTML, a plain JS read-walk, a bare
// MutationObserver, no recorder). Writes bench/results.json, bench/chart.svg and BENCHMARKS.md.
//
//   node bench/run.mjs              the full suite (`make bench`; about 12-14 min on 2 cores)
//   node bench/run.mjs --quick      a smoke run: fewer sizes and runs; writes *.quick.* files only
//   node bench/run.mjs --only snapshot-table,bundle   a subset (names below); writes *.partial.*
//   node bench/run.mjs --report     rebuild BENCHMARKS.md and the chart from bench/results.json
//
// Needs `make build` (dist/cobrowse, target/release/cobrowse-server), `npm ci` in bench/ and in
// tests/e2e/ (the e2e harness is imported for the server start-up and the mirror comparison),
// and Debian's /usr/bin/chromium. No timed assertion anywhere: this measures and reports.
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, ROOT, machineInfo, pkgVersion } from './lib/common.mjs';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const REPORT_ONLY = args.includes('--report');
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set(args[onlyArg + 1].split(',')) : null;
const SCENARIOS = ['bundle', 'snapshot-table', 'snapshot-demo', 'mutations', 'boundary'];
if (ONLY) for (const s of ONLY) if (!SCENARIOS.includes(s)) { console.error(`unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`); process.exit(2); }
const want = (s) => !ONLY || ONLY.has(s);
const suffix = QUICK ? '.quick' : ONLY ? '.partial' : '';

const OUT = {
  json: path.join(BENCH_DIR, `results${suffix}.json`),
  svg: path.join(BENCH_DIR, `chart${suffix}.svg`),
  md: suffix ? path.join(BENCH_DIR, `BENCHMARKS${suffix}.md`) : path.join(ROOT, 'BENCHMARKS.md'),
};

// Run counts: chosen so the full suite fits in 15 minutes on 2 cores. Clarity's snapshot grows
// superlinearly (about 6 s at 110k nodes and 34 s at 330k at 1x), so it gets fewer runs there and
// none at 330k/4x (that one run alone would take over 2 minutes).
const FULL = {
  sizes: [11_000, 110_000, 330_000],
  throttles: [1, 4],
  runs(size, throttle, engine) {
    const base = { 11000: { 1: 5, 4: 4 }, 110000: { 1: 3, 4: 2 }, 330000: { 1: 2, 4: 1 } }[size][throttle];
    if (engine === 'clarity') return { 11000: { 1: 5, 4: 3 }, 110000: { 1: 2, 4: 1 }, 330000: { 1: 1, 4: 0 } }[size][throttle];
    return base;
  },
  check(size, throttle, engine) {
    if (engine === 'floors') return false;
    if (engine === 'glance') return throttle === 1 || size <= 110_000;
    if (engine === 'glance-unsliced') return size <= 110_000;
    return throttle === 1;
  },
  demoPages: ['/demo/index.html', '/demo/products.html', '/demo/checkout.html', '/demo/widget.html'],
  demoRuns: (throttle) => (throttle === 1 ? 3 : 2),
  mutationRuns: 3,
  churnMs: 5000,
  boundarySizes: [11_000, 110_000],
};
const QUICKPLAN = {
  ...FULL,
  sizes: [11_000, 110_000],
  runs: (size, throttle, engine) => (engine === 'clarity' && size > 11_000 && throttle > 1 ? 0 : 1),
  demoPages: ['/demo/index.html', '/demo/checkout.html'],
  demoRuns: () => 1,
  mutationRuns: 1,
  churnMs: 1000,
  boundarySizes: [11_000],
};
const plan = QUICK ? QUICKPLAN : FULL;
// Soft time budget: once it is spent, every remaining configuration gets its first run only (the
// summary's `runs` shows it), so a slow or busy machine still finishes in about 15 minutes.
plan.softBudgetMs = Number(process.env.BENCH_BUDGET_S || 780) * 1000;

const t0 = Date.now();
const log = (s) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);

async function main() {
  const { writeReport } = await import('./lib/report.mjs');
  if (REPORT_ONLY) {
    const results = JSON.parse(fs.readFileSync(OUT.json, 'utf8'));
    writeReport(results, OUT);
    log(`wrote ${path.relative(ROOT, OUT.md)} and ${path.relative(ROOT, OUT.svg)} from ${path.relative(ROOT, OUT.json)}`);
    return;
  }
  const { summarize, targets } = await import('./lib/aggregate.mjs');
  const results = {
    meta: {
      date: new Date().toISOString(), quick: QUICK, only: ONLY ? [...ONLY] : null,
      command: QUICK ? 'node bench/run.mjs --quick' : ONLY ? `node bench/run.mjs --only ${[...ONLY].join(',')}` : 'make bench',
      versions: { rrweb: pkgVersion('rrweb'), '@rrweb/record': pkgVersion('@rrweb/record'), 'clarity-js': pkgVersion('clarity-js'), 'playwright-core': pkgVersion('playwright-core') },
      plan: {
        sizes: plan.sizes, throttles: plan.throttles, demoPages: plan.demoPages, mutationRuns: plan.mutationRuns, churnMs: plan.churnMs,
        runs: Object.fromEntries(plan.sizes.map((s) => [s, Object.fromEntries(plan.throttles.map((t) => [t, { default: plan.runs(s, t, 'glance'), clarity: plan.runs(s, t, 'clarity') }]))])),
        demoRuns: Object.fromEntries(plan.throttles.map((t) => [t, plan.demoRuns(t)])),
      },
    },
    scenarios: {},
  };
  if (want('bundle')) {
    const { runBundle } = await import('./scenarios/bundle.mjs');
    results.bundle = await runBundle();
    log(`bundle: ours ${(results.bundle.ours.gzip / 1000).toFixed(1)} KB gz; ` + results.bundle.peers.map((p) => `${p.name} ${(p.counted_gzip / 1000).toFixed(1)} KB`).join(', '));
  }
  const needBrowser = SCENARIOS.filter((s) => s !== 'bundle').some(want);
  if (needBrowser) {
    const { startEnv } = await import('./lib/env.mjs');
    const env = await startEnv({ log });
    env.overBudget = () => Date.now() - t0 > plan.softBudgetMs;
    try {
      results.meta.machine = machineInfo(env.browser.version());
      log(`machine: ${results.meta.machine.cpu}, ${results.meta.machine.cores} cores; ${results.meta.machine.chromium}`);
      const { checkerSelfTest } = await import('./lib/runner.mjs');
      const { tablePage, loaderTag } = await import('./lib/pages.mjs');
      results.meta.checker_selftest = await checkerSelfTest(env, env.page('/bench/selftest.html', tablePage(2000, loaderTag(env.base))));
      log(`correctness checker self-test (must pass untouched and fail tampered): ${results.meta.checker_selftest.ok ? 'ok' : 'FAILED'}`);
      if (want('snapshot-table')) {
        const { runSnapshotTable } = await import('./scenarios/snapshot.mjs');
        log('snapshot-table');
        results.scenarios['snapshot-table'] = summarize('snapshot-table', await runSnapshotTable(env, plan, log));
      }
      if (want('snapshot-demo')) {
        const { runSnapshotDemo } = await import('./scenarios/snapshot.mjs');
        log('snapshot-demo');
        results.scenarios['snapshot-demo'] = summarize('snapshot-demo', await runSnapshotDemo(env, plan, log));
      }
      if (want('mutations')) {
        const { runMutations } = await import('./scenarios/mutations.mjs');
        log('mutations (mut-attrs-10k, mut-add-remove, mut-text-churn)');
        const recs = await runMutations(env, plan, log);
        for (const sc of ['mut-attrs-10k', 'mut-add-remove', 'mut-text-churn']) results.scenarios[sc] = summarize(sc, recs.filter((r) => r.scenario === sc));
      }
      if (want('boundary')) {
        const { runBoundary } = await import('./scenarios/boundary.mjs');
        log('boundary');
        results.scenarios.boundary = await runBoundary(env, plan, log);
      }
    } finally {
      await env.stop();
    }
  }
  results.targets = targets(results);
  results.meta.duration_s = Math.round((Date.now() - t0) / 1000);
  fs.writeFileSync(OUT.json, JSON.stringify(results, null, 1) + '\n');
  writeReport(results, OUT);
  log(`done in ${results.meta.duration_s} s: ${path.relative(ROOT, OUT.json)}, ${path.relative(ROOT, OUT.svg)}, ${path.relative(ROOT, OUT.md)}`);
  for (const t of results.targets) log(`target ${t.pass === true ? 'PASS' : t.pass === false ? 'MISS' : 'INFO'}: ${t.target}: ${t.measured}${t.gap ? ` [${t.gap}]` : ''}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
