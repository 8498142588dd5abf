// Where one snapshot of our engine spends its time: a developer tool, not part of `make bench`.
//
//   node bench/profile.mjs [page] [throttle] [runs]
//     page: a table size (11k, 110k, 330k) or a demo page path (/demo/products.html); default 110k
//
// Prints, per run, the recorder's longest task and main-thread time (CDP trace, as in the suite),
// then a sampled CPU profile of one more run grouped by part (walker, wasm, glue, native) with
// the top functions. Needs what bench/run.mjs needs (make build, npm ci in bench/ and tests/e2e/).
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/common.mjs';
import { startEnv } from './lib/env.mjs';
import { snapshotRun, boundaryRun } from './lib/runner.mjs';
import { tablePage, loaderTag, rewriteDemo } from './lib/pages.mjs';

const [which = '110k', throttleArg = '1', runsArg = '2'] = process.argv.slice(2);
const throttle = Number(throttleArg);
process.env.BENCH_TOP_FNS ||= '25';
const env = await startEnv({ log: console.log });
try {
  const tag = loaderTag(env.base);
  let url;
  if (which.startsWith('/demo/')) {
    const html = fs.readFileSync(path.join(ROOT, 'demo-site', which.slice('/demo/'.length)), 'utf8');
    url = env.page(which, rewriteDemo(html, env.base, tag));
  } else {
    url = env.page(`/bench/profile-${which}.html`, tablePage(Number(which.replace('k', '')) * 1000, tag));
  }
  for (let i = 0; i < Number(runsArg); i++) {
    const [r] = await snapshotRun(env, { url, engine: 'glance', throttle });
    console.log(`run ${i + 1}: ttl ${r.ttl_ms?.toFixed(1)} ms; own longest ${r.own_longest_ms?.toFixed(1)} ms ` +
      `(${JSON.stringify(r.own_longest_parts)}); own main ${r.own_main_ms?.toFixed(1)} ms; all main ${r.main_ms?.toFixed(1)} ms; ` +
      `wire ${r.wire_bytes} B, raw ${r.raw_bytes} B`);
  }
  const b = await boundaryRun(env, { url, kind: which, counting: false, profile: true, throttle });
  console.log(JSON.stringify(b.profile, null, 1));
} finally {
  await env.stop();
}
