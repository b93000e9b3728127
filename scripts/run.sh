#!/usr/bin/env bash
# Builds and launches the SocksBridge tray app (release), installing the build packages
# it needs first. `scripts/run.sh --settings` opens the settings window at start.
# For the headless proxy instead: cargo run --release --bin socksbridge -- --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-app-deps.sh
cargo build --release --locked -p socksbridge-app
exec ./target/release/socksbridge-app "$@"
