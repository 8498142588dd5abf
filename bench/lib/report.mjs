// BENCHMARKS.md (from bench/BENCHMARKS.template.md: hand-written sections stay there, generated
// ones replace the {{PLACEHOLDERS}}) and bench/chart.svg, from the results of one run.
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, ROOT } from './common.mjs';

const ENGINE_NAMES = {
  glance: 'ours', 'glance-unsliced': 'ours, unsliced', rrweb: 'rrweb record', clarity: 'clarity-js',
  outerHTML: 'floor: outerHTML', walk: 'floor: JS read-walk', mo: 'floor: bare MutationObserver', none: 'floor: no recorder',
};
const SNAP_ORDER = ['glance', 'glance-unsliced', 'rrweb', 'clarity', 'outerHTML', 'walk'];
const MUT_ORDER = ['glance', 'rrweb', 'clarity', 'mo', 'none'];
const MB = 2 ** 20;

const ms = (x) => (x == null ? '–' : x < 10 ? x.toFixed(1) : x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));
const kb = (b) => (b == null ? '–' : b < 10_240 ? (b / 1024).toFixed(1) : Math.round(b / 1024).toLocaleString('en-US'));
const ratio = (a, b) => (a == null || b == null || !b ? '–' : a / b >= 100 ? `${Math.round(a / b)}x` : a / b >= 10 ? `${(a / b).toFixed(1)}x` : `${(a / b).toFixed(2)}x`);
const med = (x) => (x && typeof x === 'object' ? x.median : x);
const spread = (s) => (s && s.n > 1 ? ` [${ms(s.min)}–${ms(s.max)}]` : '');
// The recorder's-own-task attribution (trace.mjs) is shown for our engine only: rrweb works inside
// the page's own mutating task (MutationObserver microtasks) and clarity's callbacks are not all
// attributable by script URL, so for them it would undercount.
const own = (r, k, which) => (r[k] && r.engine.startsWith('glance') ? `${ms(r[k][which])} / ` : r.engine === 'rrweb' || r.engine === 'clarity' ? '– / ' : '');
const nodesLabel = (n) => (n == null ? '' : n >= 10_000 ? ` (${Math.round(n / 1000)}k nodes)` : ` (${n} nodes)`);
const correct = (r) => (!r.correct || !r.correct.checked ? (r.engine === 'outerHTML' || r.engine === 'walk' || r.engine === 'mo' || r.engine === 'none' ? 'n/a' : 'not checked') : r.correct.ok ? 'yes' : '**NO**');

function snapshotTable(rows) {
  const out = [];
  out.push('| page | CPU | engine | runs | time to last message, ms: median [min–max] | vs rrweb | vs outerHTML | vs JS walk | longest task, ms: recorder\'s / any (max) | main-thread, ms: recorder\'s / all | raw KB | wire KB | gzip KB | peak JS+wasm, MB | correct |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const keys = [...new Set(rows.map((r) => `${r.page}|${r.throttle}`))];
  for (const k of keys) {
    const [page, th] = k.split('|');
    const g = rows.filter((r) => r.page === page && String(r.throttle) === th);
    const rr = g.find((r) => r.engine === 'rrweb'), oh = g.find((r) => r.engine === 'outerHTML'), wk = g.find((r) => r.engine === 'walk');
    for (const e of SNAP_ORDER) {
      const r = g.find((x) => x.engine === e);
      if (!r) continue;
      if (!r.runs) { out.push(`| ${page} | ${th}x | ${ENGINE_NAMES[e]} | 0 | failed: ${(r.errors[0] || '').replace(/\|/g, '/')} |||||||||||`); continue; }
      const t = med(r.ttl_ms);
      const mem = r.peak_mem_mb != null ? r.peak_mem_mb.toFixed(1) : '–';
      out.push(`| ${page}${nodesLabel(r.nodes)} | ${th}x | ${e === 'glance' ? '**ours**' : ENGINE_NAMES[e]} | ${r.runs} | ${ms(t)}${spread(r.ttl_ms)} | ${e === 'rrweb' ? '1' : ratio(t, rr && med(rr.ttl_ms))} | ${ratio(t, oh && med(oh.ttl_ms))} | ${ratio(t, wk && med(wk.ttl_ms))} | ${own(r, 'own_longest_ms', 'max')}${ms(r.longest_ms && r.longest_ms.max)} | ${own(r, 'own_main_ms', 'median')}${ms(med(r.main_ms))} | ${kb(r.raw_bytes)} | ${kb(r.wire_bytes ?? (e === 'outerHTML' ? null : r.raw_bytes))}${r.snap_wire_bytes && r.snap_wire_bytes !== r.wire_bytes ? ` (snap ${kb(r.snap_wire_bytes)})` : ''} | ${kb(r.gzip_bytes)} | ${mem} | ${correct(r)} |`);
    }
  }
  return out.join('\n');
}

/** A mutation step that was not checked itself: point at the step of the scenario that was. */
function mutCorrect(r, rows) {
  if (r.correct && r.correct.checked) return correct(r);
  const other = rows.find((x) => x.engine === r.engine && x.correct && x.correct.checked);
  return other ? `${other.correct.ok ? 'yes' : '**NO**'}, checked after ${other.step}` : correct(r);
}

function mutationTable(rows) {
  const out = [];
  out.push('| step | engine | runs | main-thread, ms: median [min–max] | vs rrweb | vs bare MO | vs no recorder | recorder\'s own tasks, ms | time to last message, ms | lag after the mutation, ms | longest task, ms: recorder\'s / any (max) | raw KB | wire KB | gzip KB | peak JS+wasm, MB | frames | correct |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const step of [...new Set(rows.map((r) => r.step))]) {
    const g = rows.filter((r) => r.step === step);
    const rr = g.find((r) => r.engine === 'rrweb'), mo = g.find((r) => r.engine === 'mo'), none = g.find((r) => r.engine === 'none');
    for (const e of MUT_ORDER) {
      const r = g.find((x) => x.engine === e);
      if (!r) continue;
      if (!r.runs) { out.push(`| ${step} | ${ENGINE_NAMES[e]} | 0 | failed: ${(r.errors[0] || '').replace(/\|/g, '/')} |||||||||||||`); continue; }
      const m = med(r.main_ms);
      const floor = e === 'mo' || e === 'none';
      out.push(`| ${step} | ${e === 'glance' ? '**ours**' : ENGINE_NAMES[e]} | ${r.runs} | ${ms(m)}${spread(r.main_ms)} | ${e === 'rrweb' ? '1' : ratio(m, rr && med(rr.main_ms))} | ${ratio(m, mo && med(mo.main_ms))} | ${ratio(m, none && med(none.main_ms))} | ${floor || !e.startsWith('glance') ? '–' : ms(r.own_main_ms && r.own_main_ms.median)} | ${floor ? '–' : ms(med(r.ttl_ms))} | ${floor ? '–' : ms(med(r.lag_ms))} | ${floor ? '' : own(r, 'own_longest_ms', 'max')}${ms(r.longest_ms && r.longest_ms.max)} | ${floor ? '–' : kb(r.raw_bytes)} | ${floor ? '–' : kb(r.wire_bytes)} | ${floor ? '–' : kb(r.gzip_bytes)} | ${r.peak_mem_mb != null ? r.peak_mem_mb.toFixed(1) : '–'} | ${r.frames != null ? Math.round(r.frames) : ''} | ${mutCorrect(r, rows)} |`);
    }
  }
  return out.join('\n');
}

function targetsTable(T) {
  const out = ['| target | measured | status | by how much |', '|---|---|---|---|'];
  for (const t of T) out.push(`| ${t.target} | ${t.measured} | ${t.pass === true ? 'pass' : t.pass === false ? '**MISS**' : 'stated'} | ${t.gap || ''} |`);
  return out.join('\n');
}

function machine(m, meta) {
  if (!m) return '(no browser scenario in this run)';
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores; ${m.memory_gib} GiB RAM; ${m.os}`,
    `- Browser: ${m.chromium} (headless, driven by playwright-core ${meta.versions['playwright-core']}; Debian's /usr/bin/chromium)`,
    `- Node ${m.node}; peers from npm: rrweb ${meta.versions.rrweb} (record), @rrweb/record ${meta.versions['@rrweb/record']} (bundle size), clarity-js ${meta.versions['clarity-js']}`,
    `- Run: ${meta.date}, ${meta.duration_s} s in all${meta.quick ? ' (**quick run: fewer sizes and runs, not the full suite**)' : ''}`,
  ].join('\n');
}

function longTaskSection(results) {
  const rows = [];
  for (const [sc, list] of Object.entries(results.scenarios)) {
    if (!Array.isArray(list)) continue;
    for (const r of list) {
      if (r.engine !== 'glance' || !r.own_longest_ms) continue;
      rows.push(`| ${sc} | ${r.page}${r.step ? ' ' + r.step : ''} | ${r.throttle}x | ${ms(r.own_longest_ms.max)} | ${r.own_over50_max} | ${(r.own_longest_parts || []).map((p) => `${p.name.replace(/\|/g, '/')} ${ms(p.ms)}`).join('; ')} |`);
    }
  }
  if (!rows.length) return '(no run of our engine)';
  return ['Our engine\'s own tasks (see "What each number means"), per configuration: the longest one over all runs, how many tasks over 50 ms the worst run had, and what that longest task was made of (its outermost trace events: `FunctionCall <script> <function>`, `CompressionStream ...`, GC, layout; summed by name).', '',
    '| scenario | page | CPU | longest own task, ms | own tasks > 50 ms (worst run) | inside the longest one, ms |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

function bundleSection(b) {
  if (!b) return '(not measured in this run)';
  const out = ['| engine | files | raw bytes | gzip bytes (level 9) |', '|---|---|---|---|'];
  out.push(`| **ours** (loader + glue + snippets + wasm) | ${b.ours.files.length} | ${b.ours.raw.toLocaleString('en-US')} | **${b.ours.gzip.toLocaleString('en-US')}** (wasm ${b.ours.wasm_gzip.toLocaleString('en-US')}, JS ${b.ours.js_gzip.toLocaleString('en-US')}) |`);
  for (const f of b.ours.files) out.push(`| &nbsp;&nbsp;${f.file} | | ${f.raw.toLocaleString('en-US')} | ${f.counted_gzip.toLocaleString('en-US')} |`);
  for (const f of b.ours.lazy || []) out.push(`| &nbsp;&nbsp;(loaded only when needed, not in the total) ${f.file} | | ${f.raw.toLocaleString('en-US')} | ${f.counted_gzip.toLocaleString('en-US')} |`);
  for (const p of b.peers) out.push(`| ${p.name} | ${p.file} | ${p.raw.toLocaleString('en-US')} | ${p.counted_gzip.toLocaleString('en-US')} |`);
  out.push('', `${b.note}. Targets: 40 KB (required), 24 KB (stretch): ours is ${(b.ours.gzip / 1000).toFixed(1)} KB, ` +
    `${((b.ours.gzip - 24_000) / 1000).toFixed(1)} KB from 24 KB.`);
  return out.join('\n');
}

function boundarySection(B) {
  if (!B) return '(not measured in this run)';
  const out = ['Crossings are calls through the wasm instance\'s import object (wasm -> JS) and exports (JS -> wasm, closures included), counted by wrapping them in an untimed run.', ''];
  out.push('| snapshot | nodes | crossings | slices (counted run) | slices (uncounted run) | most called |', '|---|---|---|---|---|---|');
  for (const s of B.snapshots) out.push(`| ${s.page} | ${s.nodes.toLocaleString('en-US')} | ${s.crossings} | ${s.slices_counted_run} | ${s.slices} | ${s.top.slice(0, 4).map((t) => `${t.fn} x${t.calls}`).join(', ')} |`);
  if (B.mutations) {
    out.push('', '| mutation step (10k-item page) | crossings | batches (collect() with changes) | per batch | most called |', '|---|---|---|---|---|');
    for (const s of B.mutations.steps) out.push(`| ${s.step} | ${s.crossings} | ${s.batches} | ${s.per_batch == null ? '–' : s.per_batch.toFixed(1)} | ${s.top.slice(0, 4).map((t) => `${t.fn} x${t.calls}`).join(', ')} |`);
  }
  for (const p of B.profiles || []) {
    out.push('', `Where a ${p.page} snapshot's main-thread time goes (${p.note}; window ${p.span_ms} ms):`, '');
    out.push('| group | self time, ms |', '|---|---|');
    for (const [k, v] of Object.entries(p.groups_ms)) if (k !== 'idle') out.push(`| ${k} | ${v} |`);
    out.push('', 'Top functions by self time: ' + p.top_ms.slice(0, 10).map((f) => `${f.fn.replace(/\|/g, '/')} ${f.ms} ms`).join('; ') + '.');
  }
  return out.join('\n');
}

function correctnessSection(results) {
  const rows = [];
  for (const [sc, list] of Object.entries(results.scenarios)) {
    if (!Array.isArray(list)) continue;
    for (const r of list) if (r.correct && r.correct.checked) rows.push(`| ${sc} | ${r.page}${r.step ? ' ' + r.step : ''} | ${r.throttle}x | ${ENGINE_NAMES[r.engine]} | ${r.correct.ok ? 'yes' : '**NO**'} | ${String(r.correct.report).replace(/\|/g, '/').replace(/\n/g, ' ')} |`);
  }
  const st = results.meta.checker_selftest;
  const head = st ? `Checker self-test: a 2k-node page compares equal (${st.untouched}); after pausing the engine and changing one cell behind its back, the check fails as it must (${st.tampered.replace(/\|/g, '/')}). Self-test ${st.ok ? 'passed' : '**FAILED**'}.\n\n` : '';
  return head + (rows.length ? ['| scenario | page | CPU | engine | equal | what was checked |', '|---|---|---|---|---|---|', ...rows].join('\n') : '(no check in this run)');
}

// ---------------------------------------------------------------------------------------------
// Chart
// ---------------------------------------------------------------------------------------------

const COLORS = { glance: '#1f77b4', 'glance-unsliced': '#9ecae9', rrweb: '#d62728', clarity: '#2ca02c', outerHTML: '#7f7f7f', walk: '#bcbd22', mo: '#8c564b', none: '#c7c7c7' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function barPanel({ x, y, w, h, title, groups, engines, value, unit }) {
  const vals = groups.flatMap((g) => engines.map((e) => value(g, e))).filter((v) => v != null && v > 0);
  if (!vals.length) return '';
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals))), hi = 10 ** Math.ceil(Math.log10(Math.max(...vals)));
  const pad = { l: 48, r: 8, t: 28, b: 58 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const yOf = (v) => y + pad.t + ph - (Math.log10(v / lo) / Math.log10(hi / lo)) * ph;
  let s = `<text x="${x + w / 2}" y="${y + 16}" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`;
  for (let v = lo; v <= hi * 1.001; v *= 10) {
    const yy = yOf(v);
    s += `<line x1="${x + pad.l}" x2="${x + w - pad.r}" y1="${yy}" y2="${yy}" stroke="#ddd"/><text x="${x + pad.l - 4}" y="${yy + 4}" text-anchor="end" font-size="10">${v >= 1000 ? v / 1000 + 'k' : v}</text>`;
  }
  s += `<text x="${x + 12}" y="${y + pad.t + ph / 2}" font-size="10" transform="rotate(-90 ${x + 12} ${y + pad.t + ph / 2})" text-anchor="middle">${esc(unit)} (log)</text>`;
  const gw = pw / groups.length, bw = Math.min(22, (gw - 10) / engines.length);
  groups.forEach((g, gi) => {
    const gx = x + pad.l + gi * gw + (gw - bw * engines.length) / 2;
    engines.forEach((e, ei) => {
      const v = value(g, e);
      if (v == null || v <= 0) return;
      const yy = yOf(Math.max(v, lo));
      s += `<rect x="${gx + ei * bw}" y="${yy}" width="${bw - 2}" height="${y + pad.t + ph - yy}" fill="${COLORS[e]}"><title>${esc(`${g.label} ${ENGINE_NAMES[e]}: ${v.toFixed(1)} ${unit}`)}</title></rect>`;
      s += `<text x="${gx + ei * bw + bw / 2 - 1}" y="${yy - 3}" font-size="8" text-anchor="middle">${v >= 100 ? Math.round(v) : v.toFixed(1)}</text>`;
    });
    s += `<text x="${x + pad.l + gi * gw + gw / 2}" y="${y + pad.t + ph + 14}" text-anchor="middle" font-size="11">${esc(g.label)}</text>`;
  });
  engines.forEach((e, i) => {
    const lx = x + pad.l + (i % 3) * (pw / 3), ly = y + h - 28 + Math.floor(i / 3) * 13;
    s += `<rect x="${lx}" y="${ly - 8}" width="9" height="9" fill="${COLORS[e]}"/><text x="${lx + 12}" y="${ly}" font-size="10">${esc(ENGINE_NAMES[e])}</text>`;
  });
  return s;
}

export function chartSvg(results) {
  const W = 1200, H = 380;
  const table = results.scenarios['snapshot-table'] || [];
  const muts = [...(results.scenarios['mut-attrs-10k'] || []), ...(results.scenarios['mut-add-remove'] || []), ...(results.scenarios['mut-text-churn'] || [])];
  const find = (rows, q) => rows.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
  let body = '';
  const pages = [...new Set(table.map((r) => r.page))];
  body += barPanel({
    x: 0, y: 0, w: 520, h: H, title: 'Full snapshot: time to last message, 1x CPU (median)', unit: 'ms',
    groups: pages.map((p) => ({ label: p, p })), engines: ['glance', 'rrweb', 'clarity', 'outerHTML', 'walk'],
    value: (g, e) => { const r = find(table, { page: g.p, throttle: 1, engine: e }); return r && r.ttl_ms ? r.ttl_ms.median : null; },
  });
  const steps = [...new Set(muts.map((r) => r.step))];
  body += barPanel({
    x: 530, y: 0, w: 480, h: H, title: 'Mutations: main-thread time of the step (median)', unit: 'ms',
    groups: steps.map((s) => ({ label: s, s })), engines: ['glance', 'rrweb', 'clarity', 'mo', 'none'],
    value: (g, e) => { const r = find(muts, { step: g.s, engine: e }); return r && r.main_ms ? r.main_ms.median : null; },
  });
  if (results.bundle) {
    const b = results.bundle;
    const items = [['ours', b.ours.gzip, COLORS.glance], ...b.peers.filter((p) => !/full/.test(p.name)).map((p) => [p.name.split(' ')[0], p.counted_gzip, /clarity/.test(p.name) ? COLORS.clarity : COLORS.rrweb])];
    const x0 = 1025, pw = 150, top = 40, ph = H - 110, max = Math.max(45_000, ...items.map((i) => i[1]));
    const yOf = (v) => top + ph - (v / max) * ph;
    body += `<text x="${x0 + pw / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">Bundle, KB gzip (targets 40, 24)</text>`;
    for (const [v, c] of [[40_000, '#d62728'], [24_000, '#ff7f0e']]) body += `<line x1="${x0}" x2="${x0 + pw + 10}" y1="${yOf(v)}" y2="${yOf(v)}" stroke="${c}" stroke-dasharray="4 3"/><text x="${x0 + pw + 14}" y="${yOf(v) + 3}" font-size="9" fill="${c}">${v / 1000}</text>`;
    items.forEach(([n, v, c], i) => {
      const bx = x0 + 4 + i * 50;
      body += `<rect x="${bx}" y="${yOf(v)}" width="32" height="${top + ph - yOf(v)}" fill="${c}"/><text x="${bx + 16}" y="${yOf(v) - 3}" text-anchor="middle" font-size="10">${(v / 1000).toFixed(1)}</text><text x="${bx + 16}" y="${top + ph + 14 + (i % 2) * 11}" text-anchor="middle" font-size="9">${esc(n)}</text>`;
    });
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>\n`;
}

// ---------------------------------------------------------------------------------------------

export function writeReport(results, OUT) {
  fs.writeFileSync(OUT.svg, chartSvg(results));
  const tpl = fs.readFileSync(path.join(BENCH_DIR, 'BENCHMARKS.template.md'), 'utf8');
  const S = results.scenarios;
  const sec = (title, body) => (body ? `### ${title}\n\n${body}\n` : '');
  const tables = [
    sec('1. snapshot-table: full snapshot of generated table pages', S['snapshot-table'] && snapshotTable(S['snapshot-table'])),
    sec('2. snapshot-demo: full snapshot of each demo-site page', S['snapshot-demo'] && snapshotTable(S['snapshot-demo'])),
    sec('3. mut-attrs-10k: 10,000 attribute changes in one task', S['mut-attrs-10k'] && mutationTable(S['mut-attrs-10k'])),
    sec('4. mut-add-remove: add 1000 x 10 nodes, remove them, move 10,000 nodes (one task each)', S['mut-add-remove'] && mutationTable(S['mut-add-remove'])),
    sec(`5. mut-text-churn: 10,000 text nodes rewritten every animation frame for ${(results.meta.plan.churnMs / 1000).toFixed(0)} s`, S['mut-text-churn'] && mutationTable(S['mut-text-churn'])),
  ].filter(Boolean).join('\n');
  const mdDir = path.dirname(OUT.md);
  const vars = {
    GENERATED: `<!-- Generated by \`${results.meta.command}\` (bench/run.mjs) from bench/BENCHMARKS.template.md and ${path.relative(ROOT, OUT.json)}. Edit the template, not this file. -->`,
    COMMAND: results.meta.command,
    RRWEB: results.meta.versions.rrweb,
    MACHINE: machine(results.meta.machine, results.meta),
    TARGETS: targetsTable(results.targets || []),
    CHART: `![benchmark chart](${path.relative(mdDir, OUT.svg).split(path.sep).join('/')})`,
    TABLES: tables || '(no scenario in this run)',
    BUNDLE: bundleSection(results.bundle),
    BOUNDARY: boundarySection(S.boundary),
    LONGTASKS: longTaskSection(results),
    CORRECTNESS: correctnessSection(results),
    RUNS: `Runs per configuration: table pages ${Object.entries(results.meta.plan.runs).map(([s, t]) => `${Math.round(s / 1000)}k: ${Object.entries(t).map(([th, r]) => `${r.default} at ${th}x${r.clarity !== r.default ? ` (clarity ${r.clarity})` : ''}`).join(', ')}`).join('; ')}; demo pages ${Object.entries(results.meta.plan.demoRuns).map(([t, r]) => `${r} at ${t}x`).join(', ')}; mutations ${results.meta.plan.mutationRuns}.`,
  };
  const md = tpl.replace(/\{\{(\w+)\}\}/g, (m, k) => (k in vars ? vars[k] : m));
  fs.writeFileSync(OUT.md, md);
}
