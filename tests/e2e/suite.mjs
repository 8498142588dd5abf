// The per-file set-up the e2e test files share: one harness (server + browser) started before the
// file's tests and stopped after, and `it(name, fn)` running `fn` in a fresh scenario (visitor +
// agent contexts; artifacts dumped on failure).
import { test, before, after } from 'node:test';
import { E2E } from './harness.mjs';

/**
 * Registers the harness hooks (`opts` as for `E2E.start`) and returns `it(name, fn, {timeout})`;
 * `it.harness()` is the running harness (server, browser, URLs).
 */
export function suite(opts = {}) {
  let e2e;
  before(async () => { e2e = await E2E.start(opts); });
  after(async () => { await e2e?.stop(); });
  function it(name, fn, { timeout = 90000 } = {}) {
    test(name, { timeout }, async (t) => {
      if (!e2e) throw new Error('harness did not start');
      await e2e.run(fn)(t);
    });
  }
  it.harness = () => e2e;
  return it;
}
