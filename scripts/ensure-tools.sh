#!/usr/bin/env bash
# Idempotently make sure the build tools exist:
#   - rustup target wasm32-unknown-unknown
#   - wasm-bindgen CLI (and wasm-bindgen-test-runner) in .tools/bin at EXACTLY the
#     version of the `wasm-bindgen` crate pinned in Cargo.lock
#   - wasm-opt from npm `binaryen` (pinned below) in .tools/bin/wasm-opt
# Usage: scripts/ensure-tools.sh [--browser]   (--browser also runs ensure-browser.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "[ensure-tools] $*"; }

# 1. wasm32 target --------------------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "rust target wasm32-unknown-unknown: present"
  else
    say "rust target wasm32-unknown-unknown: installing"
    rustup target add wasm32-unknown-unknown || {
      say "ERROR: 'rustup target add wasm32-unknown-unknown' failed" >&2
      exit 1
    }
  fi
else
  say "WARNING: rustup not found; assuming the wasm32-unknown-unknown target is available"
fi

# rustfmt + clippy (for `make test`'s lint layers)
for comp in rustfmt clippy; do
  if cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "rust component $comp: present"
  elif command -v rustup >/dev/null 2>&1; then
    say "rust component $comp: installing"
    rustup component add "$comp"
  else
    say "WARNING: rust component $comp missing and no rustup"
  fi
done

# 2. wasm-bindgen CLI at the Cargo.lock version ---------------------------------
WB_VERSION="$(awk '
  /^\[\[package\]\]/ { inpkg = 1; name = ""; next }
  inpkg && /^name = / { gsub(/"/, "", $3); name = $3; next }
  inpkg && /^version = / && name == "wasm-bindgen" { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)"
if [ -z "$WB_VERSION" ]; then
  say "ERROR: could not find the wasm-bindgen package version in Cargo.lock" >&2
  exit 1
fi

have_wb_version() {
  [ -x .tools/bin/wasm-bindgen ] && [ -x .tools/bin/wasm-bindgen-test-runner ] &&
    [ "$(.tools/bin/wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$WB_VERSION" ]
}

# A per-machine cache outside the work tree, so a fresh clone on the same machine (CI) reuses it.
CACHE="${GLANCE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-cobrowse-tools}/wasm-bindgen-$WB_VERSION"
if ! have_wb_version && [ -x "$CACHE/bin/wasm-bindgen" ] &&
   [ "$("$CACHE/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" = "$WB_VERSION" ]; then
  mkdir -p .tools/bin
  cp -f "$CACHE"/bin/* .tools/bin/
  say "wasm-bindgen-cli $WB_VERSION: copied from the machine cache $CACHE"
fi

if have_wb_version; then
  say "wasm-bindgen-cli $WB_VERSION: present in .tools/bin"
else
  say "wasm-bindgen-cli $WB_VERSION: installing into .tools (cargo install, takes a few minutes)"
  mkdir -p .tools
  if ! cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root .tools --locked --force; then
    say "cargo install --locked failed; retrying without --locked"
    cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root .tools --force
  fi
  if ! have_wb_version; then
    say "ERROR: .tools/bin/wasm-bindgen is not version $WB_VERSION after install" >&2
    exit 1
  fi
  say "wasm-bindgen-cli $WB_VERSION: installed"
fi
if [ ! -x "$CACHE/bin/wasm-bindgen-test-runner" ]; then
  if mkdir -p "$CACHE/bin" 2>/dev/null &&
     cp -f .tools/bin/wasm-bindgen .tools/bin/wasm-bindgen-test-runner "$CACHE/bin/" 2>/dev/null; then
    say "wasm-bindgen-cli $WB_VERSION: cached in $CACHE for later clones on this machine"
  fi
fi

# 3. wasm-opt -------------------------------------------------------------------
# Debian bookworm's binaryen (wasm-opt 108) corrupts wasm-bindgen output that uses reference
# types: even a plain read/write re-points the `__wbindgen_externrefs` table export at the
# funcref table, and Chromium then fails in `__wbindgen_init_externref_table`. So the build uses
# binaryen from npm (a Node/wasm build of wasm-opt), pinned here, in .tools/binaryen.
BINARYEN_VERSION=132.0.0
have_wasm_opt() {
  [ -x .tools/bin/wasm-opt ] &&
    [ "$(.tools/bin/wasm-opt --version 2>/dev/null | awk '{print $3}')" = "${BINARYEN_VERSION%%.*}" ]
}
if have_wasm_opt; then
  say "wasm-opt: present (.tools/bin/wasm-opt, npm binaryen $BINARYEN_VERSION)"
else
  say "wasm-opt: installing npm binaryen@$BINARYEN_VERSION into .tools/binaryen"
  command -v npm >/dev/null 2>&1 || { say "ERROR: npm not found (needed for binaryen)" >&2; exit 1; }
  mkdir -p .tools/binaryen .tools/bin
  [ -f .tools/binaryen/package.json ] || echo '{"private":true}' > .tools/binaryen/package.json
  npm install --prefix .tools/binaryen --no-audit --no-fund --loglevel=error --save-exact "binaryen@$BINARYEN_VERSION"
  cat > .tools/bin/wasm-opt <<'WRAP'
#!/bin/sh
# npm binaryen's wasm-opt (installed by scripts/ensure-tools.sh)
exec node "$(dirname "$0")/../binaryen/node_modules/binaryen/bin/wasm-opt" "$@"
WRAP
  chmod +x .tools/bin/wasm-opt
  have_wasm_opt || { say "ERROR: .tools/bin/wasm-opt does not report version ${BINARYEN_VERSION%%.*}" >&2; exit 1; }
  say "wasm-opt: installed ($(.tools/bin/wasm-opt --version))"
fi

# 4. terser ---------------------------------------------------------------------
# Minifies the shipped JS (loader, wasm-bindgen glue, snippets), pinned, in the same npm prefix.
TERSER_VERSION=5.51.2
if [ -x .tools/bin/terser ] && [ "$(.tools/bin/terser --version 2>/dev/null | awk '{print $2}')" = "$TERSER_VERSION" ]; then
  say "terser: present ($TERSER_VERSION)"
else
  say "terser: installing terser@$TERSER_VERSION into .tools/binaryen"
  mkdir -p .tools/binaryen .tools/bin
  [ -f .tools/binaryen/package.json ] || echo '{"private":true}' > .tools/binaryen/package.json
  npm install --prefix .tools/binaryen --no-audit --no-fund --loglevel=error --save-exact "terser@$TERSER_VERSION"
  cat > .tools/bin/terser <<'WRAP'
#!/bin/sh
# npm terser (installed by scripts/ensure-tools.sh)
exec node "$(dirname "$0")/../binaryen/node_modules/terser/bin/terser" "$@"
WRAP
  chmod +x .tools/bin/terser
  say "terser: installed ($(.tools/bin/terser --version))"
fi

if [ "${1:-}" = "--browser" ]; then
  exec "$ROOT/scripts/ensure-browser.sh"
fi
