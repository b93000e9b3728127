#!/usr/bin/env bash
# The settings window end to end: builds the app, then runs tests/e2e/settings_window.py
# over WebDriver inside a private D-Bus session and an Xvfb display, with a temporary
# HOME so the real desktop's settings are never touched. UPDATE_SCREENSHOT=1 refreshes
# docs/settings.png.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same build `cargo test --workspace` makes (dev-dependency features unified), so the
# full test run does not compile the app twice.
cargo test --locked --workspace --no-run --quiet
cargo_bin="$HOME/.cargo/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/config" "$work/state"
# The screenshot is always taken; it replaces the README's only when asked to.
screenshot="$work/settings.png"
[ "${UPDATE_SCREENSHOT:-}" = 1 ] && screenshot="$PWD/docs/settings.png"

# -noreset: by default Xvfb resets when its last client leaves, and a client that connects
# during the reset (the test's xclip, right after a test quit the app) is refused with
# "Can't open display" (seen once in CI).
HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state" \
XDG_CURRENT_DESKTOP=GNOME LANG=C.UTF-8 LC_ALL=C.UTF-8 \
SOCKSBRIDGE_APP="${CARGO_TARGET_DIR:-$PWD/target}/debug/socksbridge-app" \
SOCKSBRIDGE_SCREENSHOT="$screenshot" \
PATH="$cargo_bin:$PATH" \
  timeout 600 dbus-run-session -- xvfb-run -a -s "-screen 0 1280x1024x24 -noreset" \
  /usr/bin/python3 tests/e2e/settings_window.py
