#!/usr/bin/env bash
# Type-checks and lints (clippy -D warnings) the Windows and macOS code of both packages, all
# targets, from this Linux machine: the code behind `cfg(windows)` / `cfg(target_os = "macos")`
# is otherwise never compiled here. Part of the test command (scripts/test.sh).
#
#   scripts/cross-check.sh [TARGET...]   (default: x86_64-pc-windows-msvc aarch64-apple-darwin)
#
# How: rustup cannot add targets on these machines, so Debian's rustc/cargo/clippy 1.96 with the
# matching std source build std's metadata for any target (-Zbuild-std); `clippy` never links,
# so no Windows or macOS linker or SDK is needed (measured on these machines).
# The target dir lives in the user's cache directory, outside the checkout, so a second run on
# the same machine is warm (~1-2 min; a cold run is 25-35 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh
. scripts/debian-rust.sh

TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(x86_64-pc-windows-msvc aarch64-apple-darwin)

# 1. Debian's toolchain: compiler, std source, cargo and clippy of one version.
debian_rust_install rust-web-clippy

# 2. Stand-ins for the C compiler and archiver that build scripts call for the target (ring, a
#    dev-dependency; embed-resource for the app's .rc): nothing is linked, empty outputs do.
FAKE=$(mktemp -d /tmp/socksbridge-xcheck.XXXXXX)
trap 'rm -rf "$FAKE"' EXIT
cat > "$FAKE/cc" <<'EOF'
#!/bin/sh
prev=
for a in "$@"; do
  case "$a" in -Fo*|/Fo*) : > "${a#???}";; esac
  [ "$prev" = "-o" ] && : > "$a"
  prev="$a"
done
exit 0
EOF
cat > "$FAKE/ar" <<'EOF'
#!/bin/sh
for a in "$@"; do
  case "$a" in
    -out:*|/OUT:*|/out:*) : > "${a#*:}";;
    *.a|*.lib) [ -e "$a" ] || : > "$a";;
  esac
done
exit 0
EOF
chmod +x "$FAKE/cc" "$FAKE/ar"

# 3. Debian's toolchain, not rustup's proxies.
debian_rust_env
export CARGO_TARGET_DIR=${SOCKSBRIDGE_CROSS_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/cross-target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# objc2-exception-helper and mac-notification-sys compile Objective-C against AppKit headers in
# their build scripts and skip it when DOCS_RS is set; nothing else in this tree reads it on
# desktop targets.
export DOCS_RS=1

# tauri-build writes gen/schemas/<platform>-schema.json for each target: keep the tree clean.
before=$(git status --porcelain --untracked-files=all -- src-tauri/gen 2>/dev/null || true)
rc=0
for t in "${TARGETS[@]}"; do
  T=${t//-/_}
  echo "== clippy -D warnings, --target $t"
  start=$(date +%s)
  env "CC_$T=$FAKE/cc" "AR_$T=$FAKE/ar" nice -n 10 /usr/bin/cargo clippy --locked \
    -Zbuild-std=std,panic_abort --target "$t" \
    -p socksbridge -p socksbridge-app --all-targets -- -D warnings || rc=$?
  echo "== $t: $(( $(date +%s) - start )) s"
done
after=$(git status --porcelain --untracked-files=all -- src-tauri/gen 2>/dev/null || true)
comm -13 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) |
  sed -n 's/^?? //p' | xargs -r rm -f --
exit $rc
