#!/usr/bin/env bash
# Build the visitor engine to wasm and assemble dist/cobrowse/:
#   GlanceCobrowseLoader.js, glance_cobrowse.js (wasm-bindgen --target web glue),
#   glance_cobrowse_bg.wasm (wasm-opt -Oz, import/export names shortened in it and the glue).
# Expects the tools from scripts/ensure-tools.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "[build-wasm] $*"; }

OUT=dist/cobrowse
WASM_IN=target/wasm32-unknown-unknown/release/glance_cobrowse.wasm
WASM_OUT="$OUT/glance_cobrowse_bg.wasm"

[ -x .tools/bin/wasm-bindgen ] || { say "ERROR: .tools/bin/wasm-bindgen missing: run scripts/ensure-tools.sh" >&2; exit 1; }

say "cargo build --target wasm32-unknown-unknown --release -p glance-cobrowse --features ship"
cargo build --target wasm32-unknown-unknown --release -p glance-cobrowse --features ship

mkdir -p "$OUT"
rm -f "$OUT"/glance_cobrowse*
say "wasm-bindgen --target web -> $OUT"
.tools/bin/wasm-bindgen --target web --no-typescript --out-dir "$OUT" "$WASM_IN"

# rustc >= 1.82/1.87 enables these wasm features by default for wasm32-unknown-unknown;
# wasm-opt must be told, or it refuses to validate the module.
WASM_OPT_FEATURES=(
  --enable-bulk-memory
  --enable-nontrapping-float-to-int
  --enable-sign-ext
  --enable-mutable-globals
  --enable-multivalue
  --enable-reference-types
)
if [ "${SKIP_WASM_OPT:-}" = "1" ]; then
  say "SKIP_WASM_OPT=1: not running wasm-opt"
elif [ -x .tools/bin/wasm-opt ]; then
  # .tools/bin/wasm-opt is npm binaryen (see ensure-tools.sh: Debian's wasm-opt 108 breaks the module).
  # --converge repeats -Oz until it stops shrinking; the producers and target-features sections
  # are metadata no browser reads.
  say "wasm-opt -Oz --converge ($(.tools/bin/wasm-opt --version))"
  .tools/bin/wasm-opt -Oz --converge --strip-producers --strip-target-features \
    "${WASM_OPT_FEATURES[@]}" -o "$WASM_OUT.opt" "$WASM_OUT"
  mv "$WASM_OUT.opt" "$WASM_OUT"
  say "short import/export names (scripts/minify-wasm-names.mjs)"
  node scripts/minify-wasm-names.mjs --map=target/wasm-names.json .tools/bin/wasm-opt \
    "$OUT/glance_cobrowse.js" "$WASM_OUT" "${WASM_OPT_FEATURES[@]}"
else
  say "ERROR: .tools/bin/wasm-opt missing: run scripts/ensure-tools.sh (or SKIP_WASM_OPT=1)" >&2
  exit 1
fi

if [ -f loader/glance-cobrowse-loader.js ]; then
  cp loader/glance-cobrowse-loader.js "$OUT/GlanceCobrowseLoader.js"
else
  say "WARNING: loader/glance-cobrowse-loader.js missing; $OUT/GlanceCobrowseLoader.js not written"
fi
# The helper for other windows (chat) that invoke the visitor API: a classic script as well.
cp loader/glance-cobrowse-invoke-visitor.js "$OUT/GlanceCobrowseInvokeVisitor.js"
CLASSIC=(GlanceCobrowseLoader.js GlanceCobrowseInvokeVisitor.js)
# The default visitor UI: an ES module the loader imports on first need (not with data-ui="custom").
cp loader/glance-cobrowse-ui.js "$OUT/GlanceCobrowseUI.js"
# Presence (GLANCE.Presence.Visitor): an ES module the loader imports only with data-presence="on"|"api".
cp loader/glance-cobrowse-presence.js "$OUT/GlanceCobrowsePresence.js"

# Ship minified JS: the loader is a classic script; the glue and its snippets are ES modules.
if [ "${SKIP_MINIFY:-}" = "1" ]; then
  say "SKIP_MINIFY=1: shipping unminified JS"
elif [ -x .tools/bin/terser ]; then
  say "terser (loader, glue, snippets)"
  for js in "${CLASSIC[@]}"; do
    [ -f "$OUT/$js" ] && .tools/bin/terser "$OUT/$js" --compress --mangle -o "$OUT/$js"
  done
  find "$OUT" -name '*.js' ! -name GlanceCobrowseLoader.js ! -name GlanceCobrowseInvokeVisitor.js -print0 |
    while IFS= read -r -d '' js; do
      .tools/bin/terser "$js" --module --compress --mangle -o "$js"
    done
else
  say "ERROR: .tools/bin/terser missing: run scripts/ensure-tools.sh (or SKIP_MINIFY=1)" >&2
  exit 1
fi

say "sizes (raw / gzip -9):"
total_raw=0; total_gz=0
for f in "$OUT/GlanceCobrowseLoader.js" "$OUT/GlanceCobrowseInvokeVisitor.js" "$OUT/glance_cobrowse.js" $(find "$OUT/snippets" -name '*.js' 2>/dev/null | sort) "$WASM_OUT"; do
  [ -f "$f" ] || continue
  raw=$(wc -c <"$f"); gz=$(gzip -9 -c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
  printf '[build-wasm]   %-40s %9d B raw %9d B gzip\n' "$f" "$raw" "$gz"
done
printf '[build-wasm]   %-40s %9d B raw %9d B gzip\n' "total" "$total_raw" "$total_gz"
say "loaded lazily, by the default UI or presence only (not in the total):"
for f in "$OUT/GlanceCobrowseUI.js" "$OUT/GlanceCobrowsePresence.js" skins/default.css skins/texts.en.json; do
  [ -f "$f" ] || continue
  printf '[build-wasm]   %-40s %9d B raw %9d B gzip\n' "$f" "$(wc -c <"$f")" "$(gzip -9 -c "$f" | wc -c)"
done
