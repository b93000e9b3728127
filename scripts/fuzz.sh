#!/usr/bin/env bash
# Fuzzes the parsers with cargo-fuzz (libFuzzer + AddressSanitizer):
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 600 s each, every target
# Installs cargo-fuzz from crates.io when missing. The stable toolchain is enough:
# RUSTC_BOOTSTRAP lets it accept the sanitizer flags cargo-fuzz passes.
# Seeds live in fuzz/corpus/<target>; crashes land in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(upstream_url connect_authority socks_handshake config_json direct_rules)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  rm -rf "artifacts/$t"  # only crashes from this run count
  # New inputs go to a scratch corpus; the committed seeds stay small.
  scratch=$(mktemp -d)
  echo "== $t: ${seconds}s"
  cargo fuzz run -O "$t" "$scratch" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|Done )" || true
  rm -rf "$scratch"
  if ls "artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "!! $t: crashes in fuzz/artifacts/$t"; exit 1
  fi
done
