#!/usr/bin/env bash
# Self-hosting package: a versioned directory and a .tar.gz a customer unpacks on their own server.
#   scripts/package.sh            -> dist/package/glance-cobrowse-<version>/ and .tar.gz
#   PACKAGE_OUT=/tmp/x scripts/package.sh   (another output directory; used by the e2e tests)
# Expects dist/cobrowse/ from scripts/build-wasm.sh (`make package` builds it first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "[package] $*"; }

VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || { say "ERROR: no version in Cargo.toml" >&2; exit 1; }
SRC=dist/cobrowse
for f in GlanceCobrowseLoader.js GlanceCobrowseInvokeVisitor.js glance_cobrowse.js glance_cobrowse_bg.wasm; do
  [ -f "$SRC/$f" ] || { say "ERROR: $SRC/$f missing: run scripts/build-wasm.sh (make build)" >&2; exit 1; }
done

OUT="${PACKAGE_OUT:-dist/package}"
NAME="glance-cobrowse-$VERSION"
DIR="$OUT/$NAME"
rm -rf "$DIR" "$OUT/$NAME.tar.gz"
mkdir -p "$DIR/cobrowse/skins"

# The loader is named with its version (GlanceCobrowseLoader_<version>M.js, as the product's packages).
cp "$SRC/GlanceCobrowseLoader.js" "$DIR/cobrowse/GlanceCobrowseLoader_${VERSION}M.js"
cp "$SRC/GlanceCobrowseInvokeVisitor.js" "$SRC/glance_cobrowse.js" "$SRC/glance_cobrowse_bg.wasm" "$DIR/cobrowse/"
# The default visitor UI (loaded by the loader on first need) and its skin: default.css, the texts,
# and groups/<groupid>/<site>/ where a customer puts its own skin.css and texts.<lang>.json.
[ -f "$SRC/GlanceCobrowseUI.js" ] && cp "$SRC/GlanceCobrowseUI.js" "$DIR/cobrowse/"
[ -f "$SRC/GlanceCobrowsePresence.js" ] && cp "$SRC/GlanceCobrowsePresence.js" "$DIR/cobrowse/"
[ -d "$SRC/snippets" ] && cp -R "$SRC/snippets" "$DIR/cobrowse/"
cp skins/default.css skins/texts.*.json skins/README.md "$DIR/cobrowse/skins/"
mkdir -p "$DIR/cobrowse/skins/groups"
sed "s/@VERSION@/$VERSION/g" loader/package/GlanceCobrowseHelper.html >"$DIR/cobrowse/GlanceCobrowseHelper.html"
sed "s/@VERSION@/$VERSION/g" loader/package/README.md >"$DIR/README.md"

tar -C "$OUT" -czf "$OUT/$NAME.tar.gz" "$NAME"
say "$DIR/"
( cd "$DIR" && find . -type f | sort | sed 's/^/[package]   /' )
say "$OUT/$NAME.tar.gz ($(wc -c <"$OUT/$NAME.tar.gz") B)"
