// Main-thread cost from a Chromium trace (CDP Tracing; categories devtools.timeline and
// disabled-by-default-devtools.timeline). The page stamps window boundaries with
// console.timeStamp(name) (trace event `TimeStamp`), which also identifies the renderer main thread.
//
// Per window: every top-level `RunTask` of that thread overlapping the window (clipped to it):
//   main_ms       sum of their durations (total main-thread time, idle excluded)
//   longest_ms    the longest one (a task is the unit that blocks input; 50 ms = a long task)
//   over50        how many exceed 50 ms
// With `own` (a recorder's script URL pattern), the same for the recorder's own tasks: top-level
// tasks that run a function of the recorder (a `FunctionCall` trace event whose script URL matches)
// or gzip with CompressionStream (only recorders do, inside a window), plus, when
// `own.startTask`, the task that started the window (where the bench calls the recorder):
//   own_main_ms, own_longest_ms, own_over50
// A page's own mutating task is not the recorder's even though MutationObserver callbacks run in
// it as microtasks (a recorder that does its work there, as rrweb does, is undercounted by this
// figure; the plain figures above count everything).
// and the JS heap: the largest `usedHeapSizeBefore` of a MinorGC/MajorGC or `jsHeapSizeUsed` of
// UpdateCounters inside the window (GCs run inside long tasks too, so a peak within a task is seen
// to within one young-generation fill).

export const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline'];

export function parseTrace(buf) {
  const j = JSON.parse(buf.toString('utf8'));
  return Array.isArray(j) ? j : j.traceEvents;
}

/** windows: [{name, start: 'marker', end: 'marker', own?: {url: RegExp, startTask: bool}}]; returns {name: metrics}. */
export function analyzeWindows(events, windows) {
  const stamps = new Map();
  for (const e of events) {
    if (e.name === 'TimeStamp' && e.args && e.args.data) {
      const msg = e.args.data.message || e.args.data.name;
      if (!stamps.has(msg)) stamps.set(msg, e);
    }
  }
  const out = {};
  for (const w of windows) {
    const s = stamps.get(w.start), f = stamps.get(w.end);
    if (!s || !f) { out[w.name] = { error: `trace markers missing (${w.start}: ${!!s}, ${w.end}: ${!!f})` }; continue; }
    const { pid, tid } = s;
    const t0 = s.ts, t1 = f.ts;
    const tasks = events.filter((e) => e.pid === pid && e.tid === tid && e.name === 'RunTask' && e.ph === 'X' && typeof e.dur === 'number')
      .sort((a, b) => a.ts - b.ts);
    const marks = w.own ? events.filter((e) => e.pid === pid && e.tid === tid && e.ts >= t0 - 1 && e.ts <= t1 &&
      ((e.name === 'FunctionCall' && e.args && e.args.data && w.own.url.test(e.args.data.url || '')) || /^CompressionStream/.test(e.name)))
      .map((e) => e.ts).sort((a, b) => a - b) : [];
    let main = 0, longest = 0, over50 = 0, n = 0, lastEnd = -Infinity;
    let ownMain = 0, ownLongest = 0, ownOver = 0, mi = 0, ownLongestTask = null;
    for (const t of tasks) {
      const end = t.ts + t.dur;
      if (t.ts < lastEnd) continue; // nested run loop: already inside a counted task
      lastEnd = end;
      if (end <= t0 || t.ts >= t1) continue;
      const clipped = Math.min(end, t1) - Math.max(t.ts, t0);
      main += clipped;
      n++;
      if (t.dur > longest) longest = t.dur;
      if (t.dur > 50_000) over50++;
      if (w.own) {
        while (mi < marks.length && marks[mi] < t.ts) mi++;
        const hasOwn = mi < marks.length && marks[mi] <= end;
        const isStart = t.ts <= t0 && t0 <= end;
        if (isStart ? w.own.startTask : hasOwn) {
          ownMain += clipped;
          if (t.dur > ownLongest) { ownLongest = t.dur; ownLongestTask = t; }
          if (t.dur > 50_000) ownOver++;
        }
      }
    }
    let heapPeak = 0;
    for (const e of events) {
      if (e.pid !== pid || e.ts < t0 || e.ts > t1) continue;
      if ((e.name === 'MinorGC' || e.name === 'MajorGC') && e.args && e.args.usedHeapSizeBefore) heapPeak = Math.max(heapPeak, e.args.usedHeapSizeBefore);
      else if (e.name === 'UpdateCounters' && e.args && e.args.data && e.args.data.jsHeapSizeUsed) heapPeak = Math.max(heapPeak, e.args.data.jsHeapSizeUsed);
    }
    out[w.name] = { main_ms: main / 1000, longest_ms: longest / 1000, over50, tasks: n, window_ms: (t1 - t0) / 1000, heap_peak: heapPeak || null };
    if (w.own) {
      Object.assign(out[w.name], { own_main_ms: ownMain / 1000, own_longest_ms: ownLongest / 1000, own_over50: ownOver });
      if (ownLongestTask) out[w.name].own_longest_parts = taskParts(events, ownLongestTask);
    }
  }
  return out;
}

/** What a task is made of: its traced pieces of interest (JS entry points as `FunctionCall
 * <script> <function>`, CompressionStream, GC, style/layout/paint), outermost first, summed by
 * name; the rest is "untraced" (mostly promise continuations: the async walker and the wasm
 * futures run as microtasks after the entry point returns). Largest first. */
const PART = /^(FunctionCall|EvaluateScript|CompressionStream|MinorGC|MajorGC|Layout|UpdateLayoutTree|PrePaint|Paint|ParseHTML|HitTest)/;
function taskParts(events, task) {
  const end = task.ts + task.dur;
  const kids = events.filter((e) => e !== task && e.pid === task.pid && e.tid === task.tid && e.ph === 'X' &&
    typeof e.dur === 'number' && e.ts >= task.ts && e.ts + e.dur <= end && PART.test(e.name))
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const parts = new Map();
  let until = -Infinity, covered = 0;
  for (const e of kids) {
    if (e.ts < until) continue; // nested inside an earlier piece
    until = e.ts + e.dur;
    covered += e.dur;
    let k = e.name;
    if (e.name === 'FunctionCall' && e.args && e.args.data) {
      const d = e.args.data;
      k = `FunctionCall ${(d.url || '').replace(/^.*\//, '') || '(page)'}${d.functionName ? ' ' + d.functionName : ''}`;
    }
    parts.set(k, (parts.get(k) || 0) + e.dur / 1000);
  }
  parts.set('untraced (microtasks: async walker, wasm futures; native work)', Math.max(0, task.dur - covered) / 1000);
  return [...parts].filter(([, ms]) => ms >= 0.05).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10 }));
}
