#!/usr/bin/env bash
# Installs the benchmark's peers and tools when missing: nginx (origin), Dante (SOCKS5),
# Privoxy, tinyproxy, wrk (apt) and http-proxy-to-socks (npm, into bench/node_modules).
set -euo pipefail
cd "$(dirname "$0")"

packages=(nginx-light dante-server microsocks privoxy tinyproxy wrk curl openssl procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Debian starts these as services on install; the benchmark runs its own copies.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for service in nginx privoxy tinyproxy danted; do
    $SUDO service "$service" stop >/dev/null 2>&1 || true
  done
fi
[ -x node_modules/.bin/hpts ] || npm install --no-audit --no-fund --silent
