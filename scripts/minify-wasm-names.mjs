#!/usr/bin/env node
// Shortens the wasm module's import and export names, and rewrites the wasm-bindgen glue to
// match. wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` in a module called
// `./glance_cobrowse_bg.js`, and exports closures as `wasm_bindgen__convert__closures_...`:
// about 5 KB of names in the module and again in the glue, which gzip cannot fold away.
//
//   node scripts/minify-wasm-names.mjs [--map=FILE] WASM_OPT GLUE_JS MODULE_WASM [features...]
//
// --map=FILE writes the old -> new names (wasm-opt's JSON), to read profiles and the boundary
// benchmark's call counts, which now show the short names.
//
// wasm-opt's --minify-imports-and-exports-and-modules renames everything (one import module,
// `a`) and prints the mapping. The memory export keeps its name (the loader reads `memory` from
// the init result for `GLANCE.Cobrowse.Loader.memory()`). The mapping is applied to the glue:
//   - the keys of the glue's import object (`__wbg_...: function ...`),
//   - imports wasm-bindgen wires straight to a snippet module (`import * as importN`), which
//     keep their real names there and are re-keyed into the one import object,
//   - every `wasm.<export>` use.
// Any name it cannot place makes it fail, so a glue layout change breaks the build, not the page.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const mapOut = argv[0]?.startsWith('--map=') ? argv.shift().slice('--map='.length) : null;
const [wasmOpt, gluePath, wasmPath, ...features] = argv;
if (!wasmOpt || !gluePath || !wasmPath) {
  console.error('usage: minify-wasm-names.mjs [--map=FILE] WASM_OPT GLUE_JS MODULE_WASM [features...]');
  process.exit(2);
}
const fail = (msg) => {
  console.error(`[minify-wasm-names] ERROR: ${msg}`);
  process.exit(1);
};

const out = `${wasmPath}.min`;
const stdout = execFileSync(
  wasmOpt,
  [...features, '--minify-imports-and-exports-and-modules', '-o', out, wasmPath],
  { encoding: 'utf8', maxBuffer: 16 << 20 },
);
const json = stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1);
let map;
try {
  map = JSON.parse(json);
} catch (e) {
  fail(`wasm-opt printed no import/export map (${e.message})`);
}

let glue = readFileSync(gluePath, 'utf8');
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The import object the glue hands to WebAssembly.instantiate.
const ret = /return \{\s*__proto__: null,((?:\s*"[^"]+": import\d+,)+)\s*\};/.exec(glue);
if (!ret) fail('import object (`return { __proto__: null, "...": importN, ... }`) not found');
const moduleVar = new Map();
for (const m of ret[1].matchAll(/"([^"]+)": (import\d+),/g)) moduleVar.set(m[1], m[2]);

// wasm-opt puts every import in module `a`; check rather than assume.
const imported = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(out)));
const modules = new Set(imported.map((i) => i.module));
if (modules.size !== 1) fail(`expected one import module after minifying, got ${[...modules]}`);
const [module] = modules;

const extra = [];
for (const [from, name, to] of map.imports) {
  const v = moduleVar.get(from);
  if (!v) fail(`import module ${from} is not in the glue's import object`);
  if (v === 'import0') {
    const key = new RegExp(`(^|[\\s{,])${escape(name)}:`, 'g');
    const hits = glue.match(key)?.length ?? 0;
    if (hits !== 1) fail(`import ${name}: ${hits} keys in the glue (expected 1)`);
    glue = glue.replace(key, `$1${to}:`);
  } else {
    extra.push(`        ${to}: ${v}.${name},`);
  }
}
if (moduleVar.get('./glance_cobrowse_bg.js') !== 'import0') fail('import0 is not the bg module');
// Snippet functions join the one import object.
const start = glue.indexOf('const import0 = {');
const close = glue.indexOf('\n    };', start);
if (start < 0 || close < 0) fail('`const import0 = { ... };` not found');
glue = glue.slice(0, close) + '\n' + extra.join('\n') + glue.slice(close);
glue = glue.replace(ret[0], `return { __proto__: null, ${JSON.stringify(module)}: import0 };`);

for (const e of map.exports) if (e[0] === 'memory') e[1] = 'memory';
const exportMap = new Map(map.exports);
glue = glue.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (whole, name) => {
  const to = exportMap.get(name);
  if (!to) fail(`glue uses wasm.${name}, which the module does not export`);
  return `wasm.${to}`;
});

writeFileSync(gluePath, glue);
if (mapOut) writeFileSync(mapOut, JSON.stringify(map, null, 1));
writeFileSync(out, renameMemoryExport(readFileSync(out), 'memory'));
renameSync(out, wasmPath);

/** The module with its (one) memory export renamed to `name`: the export section re-encoded. */
function renameMemoryExport(wasm, name) {
  const leb = (buf, pos) => {
    let value = 0, shift = 0, b;
    do {
      b = buf[pos++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return [value, pos];
  };
  const uleb = (n) => {
    const bytes = [];
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    return Buffer.from(bytes);
  };
  let pos = 8;
  while (pos < wasm.length) {
    const id = wasm[pos];
    const [size, body] = leb(wasm, pos + 1);
    if (id === 7) {
      let [count, p] = leb(wasm, body);
      const entries = [];
      let renamed = 0;
      for (let i = 0; i < count; i++) {
        const [len, q] = leb(wasm, p);
        let field = wasm.subarray(q, q + len);
        const kind = wasm[q + len];
        const [index, next] = leb(wasm, q + len + 1);
        if (kind === 2) {
          field = Buffer.from(name);
          renamed++;
        }
        entries.push(Buffer.concat([uleb(field.length), field, Buffer.from([kind]), uleb(index)]));
        p = next;
      }
      if (renamed !== 1) fail(`expected one memory export, found ${renamed}`);
      const section = Buffer.concat([uleb(count), ...entries]);
      return Buffer.concat([wasm.subarray(0, pos), Buffer.from([7]), uleb(section.length), section,
        wasm.subarray(body + size)]);
    }
    pos = body + size;
  }
  fail('no export section');
}
