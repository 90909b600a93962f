#!/usr/bin/env bash
# The deploy/ tests run Debian's Caddy, coturn, promtool (prometheus) and pg_dump/pg_restore
# (postgresql-client): install those that are missing.
set -euo pipefail
missing=()
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The deploy tests need: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "Installing for the deploy tests: apt-get install ${missing[*]}..."
if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
