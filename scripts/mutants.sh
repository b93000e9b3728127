#!/usr/bin/env bash
# Mutation testing (issue #11): cargo-mutants over the folders that carry the product's
# promises, each group against the suites that exercise it. Not part of the test command:
# the whole set takes about an hour and a half on 2 cores. Installs cargo-mutants when
# missing. Mutates a copy of the tree (the checkout is never touched, so you can keep
# working); reports go to target/mutants/<group>/mutants.out/ (caught.txt, missed.txt, ...).
#
#   scripts/mutants.sh                    # every group
#   scripts/mutants.sh plans lifecycle    # some: plans lifecycle macos dial http socks servers
#   scripts/mutants.sh --iterate plans    # only what was missed last time, and new code
#
# The report of the last full pass is docs/mutants-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null 2>&1 || cargo install cargo-mutants --locked --quiet
iterate=()
if [ "${1:-}" = "--iterate" ]; then iterate=(--iterate); shift; fi
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(plans lifecycle macos dial http socks)

run() {  # run GROUP [cargo args...] -- [files...]
  local group=$1; shift
  local args=() files=()
  while [ "$1" != "--" ]; do args+=(-C "$1"); shift; done; shift
  for f in "$@"; do files+=(-f "$f"); done
  echo "== mutants: $group"
  mkdir -p target/mutants
  nice -n 10 cargo mutants --no-shuffle "${iterate[@]}" -p socksbridge "${args[@]}" "${files[@]}" \
    -o "target/mutants/$group" || true   # missed mutants are a report, not a failure
}

for group in "${groups[@]}"; do
  case $group in
    # Pure plans and parsers: the library's own tests are enough (a few seconds each).
    plans) run plans --lib -- src/system_proxy/macos/plan.rs src/system_proxy/macos/parse.rs \
             src/system_proxy/windows/mod.rs src/system_proxy/pac.rs src/system_proxy/bypass.rs \
             src/system_proxy/gvariant.rs src/system_proxy/state.rs src/system_proxy/command.rs \
             src/system_proxy/env.rs ;;
    # The lifecycle and the Linux backends: real gsettings and kwriteconfig5.
    lifecycle) run lifecycle --lib --test=system_proxy -- src/system_proxy/mod.rs \
             src/system_proxy/gnome.rs src/system_proxy/kde.rs ;;
    # The macOS backend as a whole, against the networksetup/scutil/osascript model.
    macos) run macos --lib --test=system_proxy_macos -- src/system_proxy/macos/mod.rs ;;
    # The way out: SOCKS, HTTP proxies (tinyproxy), routes.
    dial) run dial --lib --test=forward --test=tunnel --test=http_upstream --test=errors -- \
             'src/dial/**' src/route.rs src/target.rs ;;
    http) run http --lib --test=forward --test=tunnel --test=errors --test=pac -- 'src/http/**' \
             'src/engine/**' src/auth.rs ;;
    socks) run socks --lib --test=tunnel --test=forward --test=lan_clients -- 'src/socks/**' ;;
    # The server list's pure parts: the failover policy, links, list validation, messages.
    servers) run servers --lib -- src/failover.rs src/config/links.rs src/config/servers.rs \
             src/message.rs src/connections.rs ;;
    *) echo "unknown group $group (plans lifecycle macos dial http socks servers)" >&2; exit 2 ;;
  esac
done
