#!/usr/bin/env bash
# Builds the packages a user installs — a .deb and an .rpm, each holding the tray app
# (socksbridge-app) and the headless CLI (socksbridge) in /usr/bin, their man pages, the
# desktop entry and icons, and (in the .deb) the copyright and changelog Debian asks for.
# Tauri's bundler makes both from src-tauri/tauri.linux.conf.json; the CLI, the man pages and
# stripped binaries are staged in src-tauri/binaries/ (not committed) and added through
# src-tauri/bundle-with-cli.json.
#
#   scripts/package.sh           # release build; packages in $CARGO_TARGET_DIR/release/bundle/
#   scripts/package.sh --debug   # from the test suite's debug build (what the package test uses)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/target}

profile=release cargo_flags=(--release) tauri_flags=()
if [ "${1:-}" = --debug ]; then
  profile=debug cargo_flags=() tauri_flags=(--debug)
fi

. scripts/apt.sh
apt_install_missing help2man binutils
[ -d node_modules/@tauri-apps/cli ] || npm ci --no-audit --no-fund

cargo build --locked "${cargo_flags[@]}" --bin socksbridge
cargo build --locked "${cargo_flags[@]}" -p socksbridge-app
version=$(sed -n 's/^version = "\(.*\)"/\1/p' src-tauri/Cargo.toml | head -1)
triple=$(rustc -vV | sed -n 's/^host: //p')
stage=src-tauri/binaries
mkdir -p "$stage"
install -m 755 "$CARGO_TARGET_DIR/$profile/socksbridge" "$stage/socksbridge-$triple"
install -m 755 "$CARGO_TARGET_DIR/$profile/socksbridge-app" "$stage/socksbridge-app"
strip --strip-unneeded "$stage/socksbridge-$triple" "$stage/socksbridge-app"
help2man --no-info --version-string "$version" \
  --name "run every app on this machine through a SOCKS server" \
  "$stage/socksbridge-$triple" | sed "s/socksbridge-$triple/socksbridge/g" | gzip -9n > "$stage/socksbridge.1.gz"
gzip -9nc packaging/socksbridge-app.1 > "$stage/socksbridge-app.1.gz"

npx tauri bundle "${tauri_flags[@]}" --bundles deb,rpm --config src-tauri/bundle-with-cli.json
ls -l "$CARGO_TARGET_DIR/$profile/bundle/deb/"*.deb "$CARGO_TARGET_DIR/$profile/bundle/rpm/"*.rpm
