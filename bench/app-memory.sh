#!/usr/bin/env bash
# Memory of the tray app (release build) with its settings window open and closed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-app-deps.sh
cargo build --release --locked -p socksbridge-app --quiet
cargo_bin="$HOME/.cargo/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/config" "$work/state"
HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state" XDG_CURRENT_DESKTOP=GNOME \
SOCKSBRIDGE_APP="$PWD/target/release/socksbridge-app" PATH="$cargo_bin:$PATH" \
  timeout 300 dbus-run-session -- xvfb-run -a /usr/bin/python3 bench/app_memory.py 2>/dev/null
