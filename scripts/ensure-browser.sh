#!/usr/bin/env bash
# Idempotently make sure Debian's chromium + chromium-driver are installed
# (/usr/bin/chromium, /usr/bin/chromedriver). Never downloads a browser build of its own.
set -euo pipefail

say() { echo "[ensure-browser] $*"; }
as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi
}

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  say "chromium + chromedriver: present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
  exit 0
fi

say "chromium/chromedriver missing: installing Debian packages chromium chromium-driver"
if [ -z "${ENSURE_TOOLS_APT_UPDATED:-}" ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "ERROR: /usr/bin/chromium or /usr/bin/chromedriver still missing" >&2
  exit 1
fi
say "chromium + chromedriver: installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
