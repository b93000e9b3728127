#!/usr/bin/env bash
# Runs every test: installs what the tests need (apt packages), then the Rust suites.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo test --locked
