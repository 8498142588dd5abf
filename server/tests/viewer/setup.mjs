// What the viewer's browser tests share: the server binary and Chromium they need (a skip reason when
// one is missing), starting and stopping them, and the conversion of readable test records into the
// wire's node records.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let chromium = null;
try {
  chromium = createRequire(path.join(ROOT, 'tests/e2e/package.json'))('playwright-core').chromium;
} catch (e) { /* skipped below */ }
const BIN = process.env.COBROWSE_SERVER ||
  [path.join(ROOT, 'target/debug/cobrowse-server'), path.join(ROOT, 'target/release/cobrowse-server')]
    .find((p) => existsSync(p));

/** Why the browser tests cannot run here, or false. */
export const skip = !chromium ? 'playwright-core not installed (npm ci in tests/e2e)'
  : !existsSync(CHROMIUM) ? 'no chromium' : !BIN ? 'cobrowse-server not built' : false;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the server (demo config, any free port) and Chromium: `{server, base, browser}`. */
export async function start() {
  const server = spawn(BIN, ['--listen', '127.0.0.1:0', '--root', ROOT,
    '--config', path.join(ROOT, 'server/demo-config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const base = await new Promise((resolve, reject) => {
    let log = '';
    const t = setTimeout(() => reject(new Error('server did not start: ' + log)), 10000);
    server.stderr.on('data', (d) => {
      log += d;
      const m = /listening on (http:\/\/[^/\s]+)\//.exec(log);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  return { server, base, browser };
}

/** Stops what `start` started (either may be missing). */
export async function stop(env) {
  if (env && env.browser) await env.browser.close();
  if (env && env.server) env.server.kill();
}

/** Readable test records `[gid, parent, kind, ...]` -> wire records `[gidDelta, depth, kind, ...]`. */
export function wireRecords(records, base) {
  const stack = [base];
  let prev = 0;
  return records.map((r) => {
    const [gid, parent, kind, ...rest] = r;
    const i = stack.lastIndexOf(parent);
    if (i < 0) throw new Error(`test record ${gid}: parent ${parent} is not on the preorder path`);
    stack.length = i + 1;
    if (kind === 1) stack.push(gid);
    const out = [gid - prev, i + 1, kind, ...rest];
    prev = gid;
    return out;
  });
}
