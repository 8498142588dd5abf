// Scenarios 3-5: mutations on a 10,000-item page (20k nodes), after the recorder's snapshot.
//   attrs   one attribute set on each of the 10,000 items, in one task           (mut-attrs-10k)
//   add     1000 subtrees of 10 nodes appended, in one task                       (mut-add-remove)
//   remove  the same 1000 subtrees removed, in one task                           (mut-add-remove)
//   move    the 10,000 items re-appended in reverse order (10k moves), one task   (mut-add-remove)
//   text    the 10,000 text nodes rewritten on every animation frame for 5 s      (mut-text-churn)
// Engines: ours, rrweb, clarity, a bare MutationObserver (floor) and no recorder (floor).
import { mutationRun } from '../lib/runner.mjs';
import { mutationPage, loaderTag } from '../lib/pages.mjs';

export const MUTATION_ENGINES = ['glance', 'rrweb', 'clarity', 'mo', 'none'];
export const STEPS = ['attrs', 'add', 'remove', 'move', 'text'];
export const STEP_SCENARIO = { attrs: 'mut-attrs-10k', add: 'mut-add-remove', remove: 'mut-add-remove', move: 'mut-add-remove', text: 'mut-text-churn' };

export async function runMutations(env, plan, log) {
  const out = [];
  for (let i = 0; i < plan.mutationRuns; i++) {
    for (const engine of MUTATION_ENGINES) {
      if (i > 0 && env.overBudget && env.overBudget()) { log(`    mutations ${engine}: time budget spent, run ${i + 1} skipped`); continue; }
      const url = env.page(`/bench/mutations-${engine}.html`, mutationPage(engine === 'glance' ? loaderTag(env.base) : ''));
      const t0 = Date.now();
      try {
        const recs = await mutationRun(env, { url, engine, steps: STEPS, check: i === 0, checkAfter: ['attrs', 'move', 'text'], churnMs: plan.churnMs });
        for (const r of recs) out.push({ scenario: STEP_SCENARIO[r.step], page: 'mutations-10k', run: i, ...r });
        log(`    mutations ${engine.padEnd(8)} run ${i + 1}: ` + recs.map((r) => `${r.step} ${r.main_ms.toFixed(0)} ms main` +
          (r.step === 'text' ? ` (${r.frames} frames)` : '')).join(', ') +
          (recs.some((r) => r.correct) ? `; correct=${recs.filter((r) => r.correct).every((r) => r.correct.ok)}` : '') + ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        log(`    mutations ${engine} run ${i + 1}: ERROR ${e.message.split('\n')[0]}`);
        for (const step of STEPS) out.push({ scenario: STEP_SCENARIO[step], page: 'mutations-10k', run: i, engine, step, throttle: 1, error: e.message.split('\n')[0] });
      }
    }
  }
  return out;
}
