#!/usr/bin/env bash
# Installs what building and testing the tray app needs on Debian/Ubuntu, only when
# missing: the WebKitGTK/GTK build packages, the tray library, Xvfb and WebKitWebDriver
# for the end-to-end test, and tauri-driver (from crates.io).
set -euo pipefail

packages=(
  build-essential pkg-config libssl-dev
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver dbus-x11 at-spi2-core
  python3-selenium
)

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
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "installing: tauri-driver (cargo)" >&2
  cargo install tauri-driver --version '^2' --locked --quiet
fi
