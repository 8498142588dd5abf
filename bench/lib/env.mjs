// The benchmark environment: the real cobrowse-server (started by tests/e2e/harness.mjs's Server,
// with server/demo-config.toml) and Debian's Chromium (harness flags) driven by playwright-core.
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { DEMO_CONFIG, DIST, ROOT, domSnippetPath, resolvePkg } from './common.mjs';
import { startPageServer } from './pagesrv.mjs';

export async function startEnv({ log = console.log } = {}) {
  for (const f of ['GlanceCobrowseLoader.js', 'glance_cobrowse.js', 'glance_cobrowse_bg.wasm']) {
    if (!fs.existsSync(`${DIST}/${f}`)) throw new Error(`dist/cobrowse/${f} missing: run make build`);
  }
  // The e2e harness: server start-up and the mirror comparison (imported, not copied).
  const harness = await import(new URL('../../tests/e2e/harness.mjs', import.meta.url));
  const server = await harness.Server.start({ config: DEMO_CONFIG, testHooks: false });
  let browser, pagesrv;
  try {
    pagesrv = await startPageServer(server.base);
    browser = await chromium.launch({ executablePath: harness.CHROMIUM, headless: true, args: harness.CHROMIUM_ARGS });
  } catch (e) {
    if (pagesrv) await pagesrv.close();
    await server.stop();
    throw e;
  }
  const env = {
    harness, server, browser, base: server.base, log, root: ROOT, pagesrv,
    /** A URL on the cobrowse server. */
    url: (p) => new URL(p, server.base).href,
    /** Serves `html` at `path` on the page server; returns its URL. */
    page: (path, html) => pagesrv.set(path, html),
    masks: [...harness.maskSelectors('1234', DEMO_CONFIG), ...harness.ALWAYS_MASKED],
    rrwebPath: resolvePkg('rrweb/dist/rrweb.umd.min.cjs'),
    clarityPath: resolvePkg('clarity-js/build/clarity.min.js'),
    domSnippet: domSnippetPath(),
    async stop() {
      await browser.close().catch(() => {});
      await pagesrv.close();
      await server.stop();
    },
  };
  return env;
}
