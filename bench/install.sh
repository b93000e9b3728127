#!/usr/bin/env bash
# Installs the benchmark's peers and tools when missing: nginx (origin), Dante (SOCKS5),
# Privoxy, tinyproxy, wrk (apt) and http-proxy-to-socks (npm, into bench/node_modules).
set -euo pipefail
cd "$(dirname "$0")"
. ../scripts/apt.sh
if ! dpkg-query -W -f='${Status}' privoxy 2>/dev/null | grep -q "install ok installed"; then
  fresh=1
fi
apt_install_missing nginx-light dante-server microsocks privoxy tinyproxy wrk curl openssl procps
# Debian starts these as services on install; the benchmark runs its own copies.
if [ -n "${fresh:-}" ]; then
  for service in nginx privoxy tinyproxy danted; do
    service "$service" stop >/dev/null 2>&1 || true
  done
fi
[ -x node_modules/.bin/hpts ] || npm install --no-audit --no-fund --silent
