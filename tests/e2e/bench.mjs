// Snapshot measurement (placeholder bench until the real one lands): for each demo page, start a
// session in headless Chromium and report engine load time, time to sessionstart, the snapshot's
// size and node count, and the time until the agent mirror equals the page.
// Run: node tests/e2e/bench.mjs [page ...]   (after `make build`; `make bench` does both)
import { E2E } from './harness.mjs';

const pages = process.argv.slice(2).length ? process.argv.slice(2)
  : ['/demo/index.html', '/demo/products.html', '/demo/checkout.html', '/demo/widget.html'];

const e2e = await E2E.start();
let failed = 0;
try {
  for (const p of pages) {
    const s = await e2e.scenario(`bench ${p}`);
    try {
      const t0 = Date.now();
      await s.openVisitor(p);
      const engineMs = await s.visitor.evaluate(async () => {
        await window.GLANCE.Cobrowse.Loader.ready;
        return Math.round(performance.now()); // ms since navigation start when the engine was ready
      });
      const t1 = Date.now();
      await s.startSession();
      const sessionMs = Date.now() - t1;
      const t2 = Date.now();
      await s.openAgent();
      await s.mirrorMatches();
      const mirrorMs = Date.now() - t2;
      const snap = s.messages({ side: 'visitor', dir: 'sent', t: 'snap' })[0];
      console.log(`bench ${p}: engine ready at ${engineMs} ms after navigation start; sessionstart ${sessionMs} ms; ` +
        `snapshot ${snap ? snap.text.length : '?'} B, ${snap ? snap.msg.nodes.length : '?'} nodes; ` +
        `agent join to equal mirror ${mirrorMs} ms; total ${Date.now() - t0} ms`);
    } catch (err) {
      failed++;
      console.error(`bench ${p}: FAILED: ${err.message}`);
    } finally {
      await s.close();
    }
  }
} finally {
  await e2e.stop();
}
process.exitCode = failed ? 1 : 0;
