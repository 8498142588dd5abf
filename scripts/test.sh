#!/usr/bin/env bash
# Run the test layers in order; every layer runs even if an earlier one failed, and the
# script exits non-zero if any layer failed. Each layer's own runner prints its summary.
#
#   scripts/test.sh            all layers
#   scripts/test.sh e2e        only the named layers (fmt clippy clippy-wasm native wasm loader e2e)
#
# Expects `make build` (tools, dist/cobrowse, target/release/cobrowse-server) to have run.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

ALL_LAYERS=(fmt clippy clippy-wasm native wasm loader e2e)
if [ "$#" -gt 0 ]; then LAYERS=("$@"); else LAYERS=("${ALL_LAYERS[@]}"); fi

banner() { printf '\n==================== layer: %s ====================\n' "$*"; }

layer_fmt()         { cargo fmt --all --check -- --color never; }
layer_clippy()      { cargo clippy --workspace --all-targets -- -D warnings; }
layer_clippy_wasm() {
  cargo clippy --target wasm32-unknown-unknown -p glance-cobrowse --all-targets -- -D warnings &&
    # The shipped configuration (no_std; see Cargo.toml's `ship` feature): the lib alone.
    cargo clippy --target wasm32-unknown-unknown -p glance-cobrowse --lib --features ship -- -D warnings
}
layer_native()      { cargo test --workspace; }
layer_wasm()        {
  # wasm-bindgen-test in headless Chromium (runner from .cargo/config.toml, browser options from
  # webdriver.json in the crate root). Only the lib's own tests (src/web/tests.rs) and a browser
  # integration test `tests/web.rs` / `tests/web/main.rs` when present: the other tests/*.rs are
  # native-only (html5ever) and do not build for wasm32.
  local targets=(--lib)
  if [ -f tests/web.rs ] || [ -f tests/web/main.rs ]; then targets+=(--test web); fi
  cargo test --target wasm32-unknown-unknown -p glance-cobrowse "${targets[@]}"
}
layer_loader() {
  if [ -d loader/test ]; then
    node --test loader/test/
  else
    echo "loader/test/ does not exist: no loader unit tests to run"
  fi
}
layer_e2e() {
  ( cd tests/e2e &&
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error
    else npm install --no-audit --no-fund --loglevel=error; fi ) || return 1
  # One file at a time: each file starts its own server + browser, and CI has 2 cores.
  node --test --test-concurrency=1 tests/e2e/*.test.mjs server/tests/viewer/*.test.mjs
}

declare -a PASSED=() FAILED=()
for layer in "${LAYERS[@]}"; do
  fn="layer_${layer//-/_}"
  if ! declare -F "$fn" >/dev/null; then
    echo "unknown layer: $layer (known: ${ALL_LAYERS[*]})" >&2
    exit 2
  fi
  banner "$layer"
  start=$SECONDS
  if "$fn"; then
    PASSED+=("$layer"); echo "---- layer $layer: ok ($((SECONDS - start)) s)"
  else
    FAILED+=("$layer"); echo "---- layer $layer: FAILED ($((SECONDS - start)) s)"
  fi
done

echo
echo "==================== test layers ===================="
for l in "${PASSED[@]}"; do echo "  ok      $l"; done
for l in "${FAILED[@]}"; do echo "  FAILED  $l"; done
echo "layers: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
