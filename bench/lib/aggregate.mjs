// Per-configuration summaries (median and spread over runs) and the issue's targets.
import { stats } from './common.mjs';

const MB = 2 ** 20;

function pick(rs, k) { return rs.map((r) => r[k]).filter((x) => typeof x === 'number' && Number.isFinite(x)); }

/** Groups run records by scenario/page/throttle/engine/step and summarizes each group. */
export function summarize(scenario, records) {
  const groups = new Map();
  for (const r of records) {
    const key = [scenario, r.page, r.throttle, r.engine, r.step || ''].join('|');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const out = [];
  for (const rs of groups.values()) {
    const ok = rs.filter((r) => !r.error);
    const f = rs[0];
    const s = {
      scenario, page: f.page, throttle: f.throttle, engine: f.engine, step: f.step || null,
      runs: ok.length, errors: rs.filter((r) => r.error).map((r) => r.error),
      nodes: ok.length ? ok[0].nodes : null,
    };
    if (ok.length) {
      s.ttl_ms = stats(pick(ok, 'ttl_ms'));
      s.main_ms = stats(pick(ok, 'main_ms'));
      s.longest_ms = stats(pick(ok, 'longest_ms'));
      s.over50_max = Math.max(0, ...pick(ok, 'over50'));
      if (pick(ok, 'own_longest_ms').length) {
        s.own_longest_ms = stats(pick(ok, 'own_longest_ms'));
        s.own_main_ms = stats(pick(ok, 'own_main_ms'));
        s.own_over50_max = Math.max(0, ...pick(ok, 'own_over50'));
        const worst = ok.filter((r) => r.own_longest_parts).sort((a, b) => b.own_longest_ms - a.own_longest_ms)[0];
        if (worst) s.own_longest_parts = worst.own_longest_parts;
      }
      for (const k of ['raw_bytes', 'wire_bytes', 'snap_wire_bytes', 'gzip_bytes', 'snapshot_nodes', 'lag_ms', 'frames', 'mutation_ms', 'ttl_from_call_ms', 'walked']) {
        const st = stats(pick(ok, k));
        if (st) s[k] = k === 'lag_ms' || k === 'mutation_ms' || k === 'ttl_from_call_ms' ? st : st.median;
      }
      const peak = ok.map((r) => (r.heap_peak_delta_mb != null ? r.heap_peak_delta_mb + (r.wasm_mb || 0) : null)).filter((x) => x != null);
      if (peak.length) s.peak_mem_mb = stats(peak).median;
      const hp = stats(pick(ok, 'heap_peak_delta_mb'));
      if (hp) s.heap_peak_delta_mb = hp.median;
      const w = stats(pick(ok, 'wasm_mb'));
      if (w) s.wasm_mb = w.median;
      const ret = ok.filter((r) => r.heap_retained_delta_mb != null);
      if (ret.length) {
        const per = ret.map((r) => ((r.heap_retained_delta_mb + (r.wasm_mb || 0)) * MB) / r.nodes);
        s.retained_mb = stats(ret.map((r) => r.heap_retained_delta_mb + (r.wasm_mb || 0))).median;
        s.bytes_per_node = stats(per).median;
      }
      s.types = ok[0].types || null;
      const checked = ok.find((r) => r.correct);
      s.correct = checked ? { checked: true, ok: checked.correct.ok, report: checked.correct.report } : { checked: false };
      if (ok.some((r) => r.timeout)) s.timeouts = ok.filter((r) => r.timeout).length;
    }
    out.push(s);
  }
  return out;
}

const find = (rows, q) => rows.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
const med = (x) => (x && typeof x === 'object' ? x.median : x);

/** The issue's targets, computed from the summaries of one run. */
export function targets(results) {
  const S = results.scenarios;
  const T = [];
  const table = S['snapshot-table'] || [];
  const demo = S['snapshot-demo'] || [];
  const snaps = [...table, ...demo];
  const muts = [...(S['mut-attrs-10k'] || []), ...(S['mut-add-remove'] || []), ...(S['mut-text-churn'] || [])];

  for (const throttle of [1, 4]) {
    const g = find(table, { page: 'table-110k', throttle, engine: 'glance' });
    const rr = find(table, { page: 'table-110k', throttle, engine: 'rrweb' });
    const oh = find(table, { page: 'table-110k', throttle, engine: 'outerHTML' });
    if (g && rr && g.ttl_ms && rr.ttl_ms) {
      const ratio = med(rr.ttl_ms) / med(g.ttl_ms);
      T.push({ id: `snap110k-vs-rrweb-${throttle}x`, target: `110k-node full snapshot >= 10x faster than rrweb record (${throttle}x CPU)`, measured: `${ratio.toFixed(1)}x faster (ours ${med(g.ttl_ms).toFixed(0)} ms, rrweb ${med(rr.ttl_ms).toFixed(0)} ms)`, value: ratio, pass: ratio >= 10, gap: ratio >= 10 ? null : `needs ${(10 / ratio).toFixed(1)}x less time (to <= ${(med(rr.ttl_ms) / 10).toFixed(0)} ms)` });
    }
    if (g && oh && g.ttl_ms && oh.ttl_ms) {
      const ratio = med(g.ttl_ms) / med(oh.ttl_ms);
      T.push({ id: `snap110k-vs-outerhtml-${throttle}x`, target: `110k-node full snapshot within 2x of outerHTML (${throttle}x CPU)`, measured: `${ratio.toFixed(1)}x outerHTML (ours ${med(g.ttl_ms).toFixed(0)} ms, outerHTML ${med(oh.ttl_ms).toFixed(1)} ms)`, value: ratio, pass: ratio <= 2, gap: ratio <= 2 ? null : `${(ratio / 2).toFixed(1)}x over the target (needs <= ${(2 * med(oh.ttl_ms)).toFixed(0)} ms)` });
    }
  }

  // Long tasks: every scenario, our (sliced) engine's own tasks (see trace.mjs for the attribution).
  const ours = [...snaps.filter((r) => r.engine === 'glance'), ...muts.filter((r) => r.engine === 'glance')].filter((r) => r.own_longest_ms);
  if (ours.length) {
    const over = ours.filter((r) => r.own_longest_ms.max > 50).sort((a, b) => b.own_longest_ms.max - a.own_longest_ms.max);
    const worst = ours.reduce((a, b) => (b.own_longest_ms.max > a.own_longest_ms.max ? b : a));
    const name = (r) => `${r.scenario} ${r.page}${r.step ? ' ' + r.step : ''} ${r.throttle}x`;
    T.push({
      id: 'long-tasks', target: 'no main-thread task over 50 ms in any scenario (our engine\'s own tasks, max over runs)',
      measured: `longest ${worst.own_longest_ms.max.toFixed(1)} ms (${name(worst)}); ${over.length} of ${ours.length} configurations have one over 50 ms`,
      value: worst.own_longest_ms.max, pass: over.length === 0,
      gap: over.length ? over.slice(0, 10).map((r) => `${name(r)}: ${r.own_longest_ms.max.toFixed(0)} ms`).join('; ') : null,
    });
  }
  // Sliced vs unsliced total time.
  const pairs = snaps.filter((r) => r.engine === 'glance').map((g) => [g, find(snaps, { scenario: g.scenario, page: g.page, throttle: g.throttle, engine: 'glance-unsliced' })]).filter(([g, u]) => u && g.ttl_ms && u.ttl_ms);
  if (pairs.length) {
    const rows = pairs.map(([g, u]) => ({ name: `${g.page} ${g.throttle}x`, ttl: med(g.ttl_ms) / med(u.ttl_ms), main: med(g.main_ms) / med(u.main_ms) }));
    const worst = rows.reduce((a, b) => (b.ttl > a.ttl ? b : a));
    const fails = rows.filter((r) => r.ttl > 1.5);
    T.push({ id: 'sliced-vs-unsliced', target: 'sliced snapshot total time <= 1.5x the unsliced run (time to last message)', measured: `worst ${worst.ttl.toFixed(2)}x (${worst.name}); main-thread time ratio ${Math.min(...rows.map((r) => r.main)).toFixed(2)}-${Math.max(...rows.map((r) => r.main)).toFixed(2)}x`, value: worst.ttl, pass: fails.length === 0, gap: fails.length ? fails.map((r) => `${r.name}: ${r.ttl.toFixed(2)}x`).join('; ') : null });
  }
  // Mutation overhead vs a bare MutationObserver (total main-thread time of the step's window).
  const mrows = muts.filter((r) => r.engine === 'glance').map((g) => [g, find(muts, { step: g.step, engine: 'mo' })]).filter(([g, m]) => m && g.main_ms && m.main_ms);
  if (mrows.length) {
    const rows = mrows.map(([g, m]) => ({ step: g.step, ratio: med(g.main_ms) / med(m.main_ms), ours: med(g.main_ms), mo: med(m.main_ms) }));
    const fails = rows.filter((r) => r.ratio > 1.5);
    T.push({ id: 'mutation-overhead', target: 'mutation overhead <= 1.5x a bare MutationObserver (main-thread time of the step)', measured: rows.map((r) => `${r.step} ${r.ratio.toFixed(2)}x (${r.ours.toFixed(0)} vs ${r.mo.toFixed(0)} ms)`).join('; '), value: Math.max(...rows.map((r) => r.ratio)), pass: fails.length === 0, gap: fails.length ? fails.map((r) => `${r.step}: ${r.ratio.toFixed(2)}x`).join('; ') : null });
  }
  // Wire bytes of a full snapshot vs the page's gzipped HTML.
  // The snapshot's own frame (the window's total also holds the small `hello` frame before it).
  const snapWire = (g) => g.snap_wire_bytes || g.wire_bytes;
  const wrows = snaps.filter((r) => r.engine === 'glance' && r.throttle === 1).map((g) => [g, find(snaps, { scenario: g.scenario, page: g.page, throttle: 1, engine: 'outerHTML' })]).filter(([g, o]) => o && snapWire(g) && o.gzip_bytes);
  if (wrows.length) {
    const rows = wrows.map(([g, o]) => ({ page: g.page, ratio: snapWire(g) / o.gzip_bytes, gzr: g.gzip_bytes / o.gzip_bytes }));
    const fails = rows.filter((r) => r.ratio > 1.2);
    T.push({ id: 'wire-bytes', target: 'compressed wire bytes of a full snapshot (its snap frame) <= 1.2x the gzipped HTML (CompressionStream)', measured: rows.map((r) => `${r.page} ${r.ratio.toFixed(2)}x`).join('; '), value: Math.max(...rows.map((r) => r.ratio)), pass: fails.length === 0, gap: fails.length ? fails.map((r) => `${r.page}: ${r.ratio.toFixed(2)}x`).join('; ') : null });
  }
  // Bundle.
  if (results.bundle) {
    const kb = results.bundle.ours.gzip / 1000;
    T.push({ id: 'bundle', target: 'loader + glue + wasm, minified + gzip <= 40 KB (stretch: 24 KB)', measured: `${kb.toFixed(1)} KB (wasm ${(results.bundle.ours.wasm_gzip / 1000).toFixed(1)} KB, JS ${(results.bundle.ours.js_gzip / 1000).toFixed(1)} KB)`, value: kb, pass: kb <= 40, gap: `${kb > 40 ? `${(kb - 40).toFixed(1)} KB over 40 KB; ` : ''}${(kb - 24).toFixed(1)} KB ${kb > 24 ? 'over' : 'under'} 24 KB` });
  }
  // Memory per tracked node.
  const mem = table.filter((r) => r.engine === 'glance' && r.throttle === 1 && r.bytes_per_node != null);
  if (mem.length) {
    T.push({ id: 'memory-per-node', target: 'engine memory per tracked node stated and bounded', measured: mem.map((r) => `${r.page}: ${r.bytes_per_node.toFixed(0)} B/node retained (JS heap growth + wasm memory), peak ${(r.peak_mem_mb * MB / r.nodes).toFixed(0)} B/node`).join('; '), value: Math.max(...mem.map((r) => r.bytes_per_node)), pass: null, gap: null });
  }
  return T;
}
