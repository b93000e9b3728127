#!/usr/bin/env bash
# Runs every test: installs what they need (apt packages, tauri-driver, the npm tooling),
# then the core and app Rust suites, the UI's unit tests and the end-to-end test.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
bash scripts/install-app-deps.sh

echo "== core and app (Rust)"
cargo test --locked --workspace

echo "== settings page logic (node --test)"
node --test ui/test/

echo "== settings window end to end (WebDriver)"
bash scripts/e2e.sh
