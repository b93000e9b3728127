#!/usr/bin/env bash
# The bounded soak (issue #6): `bench/soak.sh [SECONDS]` (default 600). Mixed forwards,
# CONNECT tunnels, SOCKS clients, expected errors and config reloads against microsocks;
# prints RSS, fds and tasks at start and end and fails on any request that should have
# succeeded but did not.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/install.sh
cargo run --release --locked --quiet --example soak -- "${1:-600}"
