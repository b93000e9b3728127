#!/usr/bin/env bash
# Regenerates every icon from the SVG sources in icons/ with the Tauri CLI (npm):
# the app icon set (PNG, ICO, ICNS) and the three tray states at 32 and 64 px, in colour
# and as macOS template images (black and alpha, tinted by the menu bar).
# The outputs are committed; run this only after editing an SVG.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tauri ] || npm install --no-audit --no-fund
tauri=node_modules/.bin/tauri
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$tauri" icon icons/app.svg -o "$tmp/app" >/dev/null 2>&1
cp "$tmp/app/32x32.png" "$tmp/app/128x128.png" "$tmp/app/128x128@2x.png" "$tmp/app/icon.ico" "$tmp/app/icon.icns" "$tmp/app/icon.png" icons/

for state in off on error off-template on-template error-template; do
  "$tauri" icon "icons/tray-$state.svg" -o "$tmp/$state" --png 32,64 >/dev/null 2>&1
  cp "$tmp/$state/32x32.png" "icons/tray-$state.png"
  cp "$tmp/$state/64x64.png" "icons/tray-$state@2x.png"
done
