#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (no browser download): install
# it, with CJK fonts so the screenshots are readable, when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium at /usr/bin/chromium. Install it with:" >&2
  echo "  sudo apt-get install chromium fonts-noto-cjk" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "Installing Chromium for the browser tests (apt-get install chromium fonts-noto-cjk)..."
if ! apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
