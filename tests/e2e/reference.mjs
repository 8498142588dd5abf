// Reference screenshots and accessibility audits for the e2e tests.
//
// `matchReference(page, name)` compares a screenshot with tests/e2e/reference/<name>.png, checked
// in. A missing reference is written (and the test fails under CI=true, where references must
// exist); `UPDATE_REFERENCE=1` rewrites them all. A mismatch writes <name>.actual.png and
// <name>.diff.png into tests/e2e/artifacts/reference/ and fails.
//
// `axeAudit(page, context)` runs axe-core (from tests/e2e/node_modules) in the page and returns
// its violations (WCAG 2.x A and AA rules, plus best practices).
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { ARTIFACTS_DIR, E2E_DIR } from './harness.mjs';

export const REFERENCE_DIR = path.join(E2E_DIR, 'reference');
const AXE = path.join(E2E_DIR, 'node_modules', 'axe-core', 'axe.min.js');

/**
 * Pixels whose channels differ from the reference by more than `threshold` (0-255), as a
 * count and a diff image (red where they differ, the reference greyed elsewhere).
 */
export function pixelDiff(a, b, threshold = 40) {
  if (a.width !== b.width || a.height !== b.height) return { size: true, count: Infinity, diff: null };
  const diff = new PNG({ width: a.width, height: a.height });
  let count = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]),
      Math.abs(a.data[i + 2] - b.data[i + 2]));
    if (d > threshold) {
      count++;
      diff.data[i] = 255; diff.data[i + 1] = 0; diff.data[i + 2] = 0; diff.data[i + 3] = 255;
    } else {
      const g = (a.data[i] + a.data[i + 1] + a.data[i + 2]) / 3;
      diff.data[i] = diff.data[i + 1] = diff.data[i + 2] = 200 + g / 5; diff.data[i + 3] = 255;
    }
  }
  return { size: false, count, diff };
}

/**
 * Compares a screenshot of `page` (options as Playwright's `page.screenshot`, e.g. `clip`) with
 * the reference `name`. At most `maxDiffRatio` of the pixels may differ (anti-aliasing).
 */
export async function matchReference(page, name, { maxDiffRatio = 0.005, threshold = 40, ...shot } = {}) {
  const file = path.join(REFERENCE_DIR, name + '.png');
  const buf = await page.screenshot({ animations: 'disabled', caret: 'hide', ...shot });
  const update = process.env.UPDATE_REFERENCE === '1';
  if (update || !fs.existsSync(file)) {
    if (!update && process.env.CI === 'true') throw new Error(`reference image ${name}.png is missing (run with UPDATE_REFERENCE=1 and check it in)`);
    fs.mkdirSync(REFERENCE_DIR, { recursive: true });
    fs.writeFileSync(file, buf);
    return { written: true, ratio: 0 };
  }
  const actual = PNG.sync.read(buf);
  const ref = PNG.sync.read(fs.readFileSync(file));
  const { size, count, diff } = pixelDiff(actual, ref, threshold);
  const ratio = size ? 1 : count / (actual.width * actual.height);
  if (size || ratio > maxDiffRatio) {
    const out = path.join(ARTIFACTS_DIR, 'reference');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, name + '.actual.png'), buf);
    if (diff) fs.writeFileSync(path.join(out, name + '.diff.png'), PNG.sync.write(diff));
    throw new Error(size
      ? `screenshot ${name}: ${actual.width}x${actual.height}, reference ${ref.width}x${ref.height} (see ${out})`
      : `screenshot ${name}: ${count} px differ (${(ratio * 100).toFixed(2)}% > ${(maxDiffRatio * 100).toFixed(2)}%; see ${out})`);
  }
  return { written: false, ratio };
}

/**
 * axe-core's violations in `page` for `context` (an axe context, e.g. `{ include: [['#x']] }` or
 * `{ include: { fromShadowDom: ['#host', '#inner'] } }`): `{violations: [{id, impact, help, nodes: [target]}],
 * passedRules}` (the number of rules that checked something and passed).
 */
export async function axeAudit(page, context = null) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
  return page.evaluate(async (ctx) => {
    const r = await window.axe.run(ctx || document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    const out = r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target) }));
    // passedRules: an audit of an empty context passes nothing and proves nothing.
    return { violations: out, passedRules: r.passes.length };
  }, context);
}
