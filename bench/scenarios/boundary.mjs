// Scenario 6: our engine's JS<->wasm crossings per snapshot and per mutation batch, and where a
// snapshot's time goes (sampled CPU profile). Untimed: counting wraps every wasm import (wasm->JS)
// and export (JS->wasm, closures included) of the instance, and the walker's `DomCapture`
// `snapshot` onChunk callback (one per slice) and `collect` (one per batch) on the same module.
import { boundaryRun } from '../lib/runner.mjs';
import { tablePage, mutationPage, loaderTag } from '../lib/pages.mjs';

export async function runBoundary(env, plan, log) {
  const tag = loaderTag(env.base);
  const out = { snapshots: [], mutations: null, profiles: [] };
  for (const size of plan.boundarySizes) {
    const label = `table-${Math.round(size / 1000)}k`;
    const url = env.page(`/bench/boundary-${label}.html`, tablePage(size, tag));
    const counted = await boundaryRun(env, { url, kind: label, counting: true });
    const plain = await boundaryRun(env, { url, kind: label, counting: false, profile: true });
    out.snapshots.push({
      page: label, nodes: counted.nodes,
      crossings: counted.snapshot.crossings, slices_counted_run: counted.snapshot.slices,
      slices: plain.snapshot.slices, top: counted.snapshot.top,
    });
    out.profiles.push({ page: label, nodes: plain.nodes, ...plain.profile });
    log(`    boundary ${label}: ${counted.snapshot.crossings} crossings over ${counted.snapshot.slices} slices ` +
      `(uncounted run: ${plain.snapshot.slices} slices); profile: ` +
      Object.entries(plain.profile.groups_ms).filter(([k]) => k !== 'idle').map(([k, v]) => `${k} ${v} ms`).join(', '));
  }
  const m = await boundaryRun(env, { url: env.page('/bench/boundary-mutations.html', mutationPage(tag)), kind: 'mutations-10k', steps: ['attrs', 'add', 'remove', 'move', 'text'] });
  out.mutations = { nodes: m.nodes, snapshot_crossings: m.snapshot.crossings, steps: m.steps };
  log('    boundary mutations: ' + m.steps.map((s) => `${s.step} ${s.crossings} crossings / ${s.batches} batches`).join(', '));
  return out;
}
