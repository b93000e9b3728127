#!/usr/bin/env bash
# Mutation testing (issue #11): cargo-mutants over the folders that carry the product's
# promises. Not part of the test command: a full pass takes hours on 2 cores. Installs
# cargo-mutants when missing; mutates the sources in place (commit or stash first) and
# writes its report to target/mutants/mutants.out/ (caught.txt, missed.txt, ...).
#
#   scripts/mutants.sh                 # every folder below
#   scripts/mutants.sh src/http        # one folder or file
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null 2>&1 || cargo install cargo-mutants --locked --quiet
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(src/system_proxy src/http src/dial src/route.rs src/target.rs src/socks src/auth.rs src/engine)
files=()
for t in "${targets[@]}"; do
  if [ -d "$t" ]; then files+=(-f "$t/**"); else files+=(-f "$t"); fi
done
# The fast suites that exercise these folders; the signal storm, fault and soak-style
# tests add minutes per mutant and nothing these do not already check.
exec cargo mutants --in-place --no-shuffle -p socksbridge "${files[@]}" -o target/mutants -- \
  --lib --test forward --test tunnel --test errors --test lan_clients --test pac --test lifecycle \
  --test system_proxy --test controller --test architecture
