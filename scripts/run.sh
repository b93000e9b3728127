#!/usr/bin/env bash
# Builds and runs socksbridge (release), passing any arguments through, e.g.
#   scripts/run.sh --upstream socks5h://127.0.0.1:1080
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked --quiet --bin socksbridge -- "$@"
