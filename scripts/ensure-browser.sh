#!/usr/bin/env bash
# Idempotently make sure Debian's chromium + chromium-driver are installed
# (/usr/bin/chromium, /usr/bin/chromedriver), and the DejaVu fonts the reference screenshots of the
# e2e tests were taken with (system-ui resolves to DejaVu Sans). Never downloads a browser build.
set -euo pipefail

say() { echo "[ensure-browser] $*"; }
as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi
}

FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -f "$FONT" ]; then
  say "chromium + chromedriver: present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
  exit 0
fi

say "chromium/chromedriver/fonts missing: installing Debian packages chromium chromium-driver fonts-dejavu-core"
if [ -z "${ENSURE_TOOLS_APT_UPDATED:-}" ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "ERROR: /usr/bin/chromium or /usr/bin/chromedriver still missing" >&2
  exit 1
fi
say "chromium + chromedriver: installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
