#!/usr/bin/env bash
# Installs what building and testing the tray app needs on Debian/Ubuntu, only when
# missing: the WebKitGTK/GTK build packages, the tray library, Xvfb, WebKitWebDriver and
# selenium for the end-to-end test, xclip and xwininfo for the tray test, and tauri-driver
# (from crates.io).
set -euo pipefail
. "$(dirname "$0")/apt.sh"
apt_install_missing \
  build-essential pkg-config libssl-dev \
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev \
  xvfb xauth webkit2gtk-driver dbus-x11 at-spi2-core \
  python3-selenium xclip x11-utils \
  fonts-wqy-microhei `# Chinese glyphs for the window in zh-CN (Xvfb has no CJK font)`
command -v tauri-driver >/dev/null 2>&1 || {
  echo "installing: tauri-driver (cargo)" >&2
  cargo install tauri-driver --version '^2' --locked --quiet
}
