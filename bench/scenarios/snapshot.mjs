// Scenarios 1 and 2: full snapshots of generated table pages and of the demo-site pages, at 1x
// and 4x CPU throttling, for our engine (sliced and unsliced), rrweb, clarity and the floors.
import { snapshotRun } from '../lib/runner.mjs';
import { tablePage, loaderTag, rewriteDemo } from '../lib/pages.mjs';

export const SNAPSHOT_ENGINES = ['floors', 'glance', 'glance-unsliced', 'rrweb', 'clarity'];

function tagFor(env, engine) {
  if (engine === 'glance') return loaderTag(env.base);
  if (engine === 'glance-unsliced') return loaderTag(env.base, { slicems: 100000 });
  return '';
}

/**
 * Runs one page configuration: `runs(engine)` runs per engine, interleaved (run 1 of every
 * engine, then run 2, ...) so drift hits every engine alike. The first run of each engine also
 * checks correctness (when `check(engine)`).
 */
async function runConfig(env, { label, pagePath, html, throttle, runs, check, log }) {
  const records = [];
  const maxRuns = Math.max(...SNAPSHOT_ENGINES.map(runs));
  for (let i = 0; i < maxRuns; i++) {
    for (const engine of SNAPSHOT_ENGINES) {
      if (i >= runs(engine)) continue;
      if (i > 0 && env.overBudget && env.overBudget()) { log(`    ${label} ${throttle}x ${engine}: time budget spent, run ${i + 1} skipped`); continue; }
      const url = env.page(pagePath, html(engine));
      const t0 = Date.now();
      try {
        const recs = await snapshotRun(env, { url, engine, throttle, check: i === 0 && check(engine) });
        for (const r of recs) records.push({ page: label, run: i, ...r });
        const main = recs.find((r) => r.engine === engine) || recs[0];
        log(`    ${label} ${throttle}x ${engine.padEnd(15)} run ${i + 1}: ` + recs.map((r) =>
          `${r.engine} ${r.ttl_ms == null ? '-' : r.ttl_ms.toFixed(1)} ms, longest ${r.longest_ms.toFixed(1)} ms` +
          (r.correct ? `, correct=${r.correct.ok}` : '')).join('; ') + ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        void main;
      } catch (e) {
        log(`    ${label} ${throttle}x ${engine} run ${i + 1}: ERROR ${e.message.split('\n')[0]}`);
        records.push({ page: label, run: i, engine, throttle, error: e.message.split('\n')[0] });
      }
    }
  }
  return records;
}

export async function runSnapshotTable(env, plan, log) {
  const out = [];
  for (const size of plan.sizes) {
    for (const throttle of plan.throttles) {
      const label = `table-${size >= 1000 ? Math.round(size / 1000) + 'k' : size}`;
      const runs = (engine) => plan.runs(size, throttle, engine);
      log(`  snapshot-table ${label} at ${throttle}x`);
      out.push(...await runConfig(env, {
        label, pagePath: `/bench/${label}.html`, throttle, runs, log,
        html: (engine) => tablePage(size, tagFor(env, engine)),
        check: (engine) => plan.check(size, throttle, engine),
      }));
    }
  }
  return out;
}

export async function runSnapshotDemo(env, plan, log) {
  const out = [];
  for (const p of plan.demoPages) {
    const r = await fetch(env.url(p));
    if (!r.ok) throw new Error(`${p}: HTTP ${r.status}`);
    const original = await r.text();
    for (const throttle of plan.throttles) {
      const label = p.replace(/^\/demo\//, 'demo/');
      log(`  snapshot-demo ${label} at ${throttle}x`);
      out.push(...await runConfig(env, {
        label, pagePath: p, throttle, runs: (engine) => plan.demoRuns(throttle, engine), log,
        html: (engine) => rewriteDemo(original, env.base, tagFor(env, engine)),
        check: (engine) => throttle === 1 || engine.startsWith('glance'),
      }));
    }
  }
  return out;
}
