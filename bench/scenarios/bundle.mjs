// Bundle size: what a visitor downloads for each engine, minified and gzipped (zlib level 9).
// Ours: loader + wasm-bindgen glue + JS snippets + wasm, as shipped in dist/cobrowse/ and again
// re-minified with esbuild (the smaller of the two counts: "minified"). The default UI and the
// presence module load lazily (only when a session or presence needs them) and are listed
// separately, not in the total. Peers: their own minified
// builds from npm (@rrweb/record's UMD min build, rrweb's full UMD min build, clarity-js's min build).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST, pkgVersion, resolvePkg } from '../lib/common.mjs';

/** Modules the loader imports only when needed (default UI, presence): not in every page's download. */
const LAZY = /GlanceCobrowse(UI|Presence)\.js$/;

const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;

async function minify(code, file) {
  const esbuild = await import('esbuild');
  try {
    const r = await esbuild.transform(code, { minify: true, format: file.endsWith('.cjs') ? undefined : 'esm', target: 'es2020', loader: 'js' });
    return Buffer.from(r.code);
  } catch (_) {
    return null;
  }
}

async function fileEntry(abs, label) {
  const raw = fs.readFileSync(abs);
  const e = { file: label, raw: raw.length, gzip: gz(raw) };
  if (!abs.endsWith('.wasm')) {
    const m = await minify(raw.toString('utf8'), abs);
    if (m) { e.esbuild_min = m.length; e.esbuild_min_gzip = gz(m); }
  }
  e.counted_gzip = Math.min(e.gzip, e.esbuild_min_gzip ?? Infinity);
  return e;
}

export async function runBundle() {
  const files = [];
  const walk = (d) => {
    for (const x of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, x.name);
      if (x.isDirectory()) walk(p);
      // The InvokeVisitor helper is for other windows (a chat), never loaded by the visitor page.
      else if (/\.(js|wasm)$/.test(x.name) && !/InvokeVisitor/.test(x.name)) files.push(p);
    }
  };
  walk(DIST);
  const ours = [];
  const lazy = [];
  for (const f of files.sort()) {
    const e = await fileEntry(f, path.relative(DIST, f));
    (LAZY.test(f) ? lazy : ours).push(e);
  }
  const sum = (k) => ours.reduce((a, e) => a + (e[k] || 0), 0);
  const wasm = ours.filter((e) => e.file.endsWith('.wasm'));
  const peers = [
    { name: `@rrweb/record ${pkgVersion('@rrweb/record')}`, ...(await fileEntry(resolvePkg('@rrweb/record/dist/record.umd.min.cjs'), 'record.umd.min.cjs')) },
    { name: `rrweb ${pkgVersion('rrweb')} (full: record + replay)`, ...(await fileEntry(resolvePkg('rrweb/dist/rrweb.umd.min.cjs'), 'rrweb.umd.min.cjs')) },
    { name: `clarity-js ${pkgVersion('clarity-js')}`, ...(await fileEntry(resolvePkg('clarity-js/build/clarity.min.js'), 'clarity.min.js')) },
  ];
  return {
    ours: {
      files: ours,
      raw: sum('raw'), gzip_as_shipped: sum('gzip'), gzip: sum('counted_gzip'),
      wasm_gzip: wasm.reduce((a, e) => a + e.gzip, 0), js_gzip: sum('counted_gzip') - wasm.reduce((a, e) => a + e.gzip, 0),
      lazy,
    },
    peers,
    note: 'gzip = zlib level 9 per file, summed; JS counted at the smaller of as-shipped and esbuild-minified',
  };
}
