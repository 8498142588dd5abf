// Shared plumbing of the benchmark suite: paths, the real cobrowse-server (started through the e2e
// harness), Debian's Chromium driven by playwright-core, statistics helpers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(BENCH_DIR, '..');
export const DIST = path.join(ROOT, 'dist', 'cobrowse');
export const DEMO_CONFIG = path.join(ROOT, 'server', 'demo-config.toml');
/** A file of an installed package (bench/node_modules; package `exports` maps are bypassed on purpose). */
export const resolvePkg = (p) => {
  const f = path.join(BENCH_DIR, 'node_modules', p);
  if (!fs.existsSync(f)) throw new Error(`${f} missing: run \`npm ci\` in bench/ (make bench does)`);
  return f;
};
export const pkgVersion = (name) => JSON.parse(fs.readFileSync(resolvePkg(`${name}/package.json`), 'utf8')).version;

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Median, min, max and relative spread ((max-min)/median) of a list of numbers (nulls ignored). */
export function stats(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((x, y) => x - y);
  if (!a.length) return null;
  const mid = a.length >> 1;
  const median = a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
  return { median, min: a[0], max: a[a.length - 1], n: a.length, spread: median ? (a[a.length - 1] - a[0]) / median : 0 };
}

export const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

/** The walker snippet (`DomCapture`) as served under /cobrowse/. */
export function domSnippetPath() {
  const base = path.join(DIST, 'snippets');
  const found = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'dom.js') found.push(p);
    }
  };
  if (fs.existsSync(base)) walk(base);
  if (found.length !== 1) throw new Error(`expected exactly one dom.js under ${base}, found ${found.length}: run make build`);
  return '/cobrowse/' + path.relative(DIST, found[0]).split(path.sep).join('/');
}

/** Machine facts for the report. */
export function machineInfo(browserVersion) {
  const cpus = os.cpus();
  let osName = `${os.type()} ${os.release()}`;
  try {
    const rel = fs.readFileSync('/etc/os-release', 'utf8');
    const m = rel.match(/^PRETTY_NAME="?([^"\n]*)"?/m);
    if (m) osName = `${m[1]} (kernel ${os.release()})`;
  } catch (_) { /* not Linux */ }
  let chromium = browserVersion;
  try { chromium = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop(); } catch (_) { /* keep */ }
  let model = cpus[0] ? cpus[0].model : 'unknown';
  try {
    const ci = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = ci.match(/^model name\s*:\s*(.*)$/m);
    if (m) model = m[1].trim();
  } catch (_) { /* keep */ }
  return {
    cpu: model, cores: cpus.length, mhz: cpus[0] ? cpus[0].speed : null,
    memory_gib: round(os.totalmem() / 2 ** 30, 1), os: osName,
    chromium, playwright_browser_version: browserVersion, node: process.version,
  };
}
