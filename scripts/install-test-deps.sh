#!/usr/bin/env bash
# Installs every system package the test suite needs (Debian/Ubuntu), only when missing.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  curl              # the real HTTP client the integration tests drive
  microsocks        # a real SOCKS5 server with username/password, started by the tests
  dante-server      # a second real SOCKS5 server (benchmarks, fault tests)
  dbus              # dbus-run-session: a private session bus for system-proxy tests
  dconf-gsettings-backend gsettings-desktop-schemas libglib2.0-bin  # real gsettings
  libkf5config-bin  # kwriteconfig5 / kreadconfig5 for the KDE path
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
