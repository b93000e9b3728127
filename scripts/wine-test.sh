#!/usr/bin/env bash
# Runs the real Windows CLI, socksbridge.exe (x86_64-pc-windows-gnu), under Wine on this Linux
# machine: its system-proxy lifecycle against the real registry, then the library's unit tests
# (the Windows plan's among them) with Wine as the test runner.
#
#   scripts/wine-test.sh [setup|build|prefix|lifecycle|test]...     (default: all of them)
#
# Exits non-zero, with a line starting "wine-test: FAIL", on the first failed check; prints the
# time of every step. Warm (toolchain installed, target dir and prefix built) it takes well under
# a minute plus whatever changed to rebuild.
#
# Where things live (kept between runs, so a second run is fast; delete them to start afresh):
# - target dir: ${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/wine-target (std is built from
#   Debian's rust-web-src, as in scripts/cross-check.sh: rustup cannot add targets here);
# - Wine prefix: ${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge/wine-prefix, made once (~10 s).
#   Every lifecycle case writes its own starting point and removes socksbridge's state file
#   first, so reusing the prefix is safe. WINEPREFIX from the environment is ignored on purpose
#   (this script rewrites the proxy setting of the prefix it uses); SOCKSBRIDGE_WINE_PREFIX
#   picks another one.
# SOCKSBRIDGE_WINE_KEEP=1 keeps the run's outputs (registry before/during each case, logs).
# Processes: everything this script starts is ended by pid, then this prefix's wineserver
# (`wineserver -k`, which only knows this prefix). `wine` output always goes to files, never
# into a pipe: wineserver and explorer.exe inherit the pipe and keep it open.
#
# What Wine 8.0 (Debian bookworm) does with the proxy setting, measured with the probe below:
# - WinINet's per-connection options keep only the legacy ProxyEnable and ProxyServer values.
#   A query reports flags 0x2 (PROXY, without DIRECT) when ProxyEnable is 1, else 0x1; never
#   AUTO_PROXY_URL or AUTO_DETECT; the server as its "http=" part only ("127.0.0.1:1" for
#   "http=127.0.0.1:1;https=127.0.0.1:1"); the bypass list only while ProxyEnable is 1; never
#   a PAC URL. A set writes ProxyEnable and ProxyServer (deleted for null, "" kept as an empty
#   value) and ignores the bypass list and the PAC URL. Nothing is stored in
#   Connections\DefaultConnectionSettings. INTERNET_PER_CONN_FLAGS_UI fails with error 87;
#   INTERNET_OPTION_REFRESH on the null handle fails with 12018; SETTINGS_CHANGED succeeds.
# - So automatic detection (WPAD) cannot be represented by Wine 8's WinINet at all (Wine 9
#   keeps it in the DefaultConnectionSettings blob's flags, and a prefix without the blob
#   reads as DIRECT|AUTO_DETECT there). socksbridge under Wine therefore reads and writes the
#   LAN setting in the registry the way Windows and Wine 9 do (windows/registry.rs), and
#   case (d) below writes that blob itself.
# - RAS: Wine's RasEnumEntriesW returns success with no entries, and WinINet ignores
#   pszConnection (every name reads and writes the LAN setting): no dial-up/VPN case here.
# - A Linux SIGINT reaches the program as CTRL_C_EVENT; SIGKILL leaves the setting on us.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh
. scripts/debian-rust.sh

T=x86_64-pc-windows-gnu
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/socksbridge
debian_rust_env
export CARGO_TARGET_DIR=${SOCKSBRIDGE_WINE_TARGET:-$CACHE/wine-target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
export WINEPREFIX=${SOCKSBRIDGE_WINE_PREFIX:-$CACHE/wine-prefix}
export WINEDEBUG=-all                            # also hides "wine32 is missing"
export WINEDLLOVERRIDES="mscoree,mshtml="        # no Mono/Gecko installer at wineboot
CARGO=(nice -n 10 /usr/bin/cargo)
ZFLAGS=(-Zbuild-std=std,panic_abort --target "$T" --locked)
EXE=$CARGO_TARGET_DIR/$T/debug/socksbridge.exe
PROBE=$CACHE/wine-probe/probe.exe
K='HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings'
STATE=$WINEPREFIX/drive_c/users/$(id -un)/AppData/Local/socksbridge/system-proxy.json

W=$(mktemp -d /tmp/socksbridge-wine.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do { kill -KILL "$p" && wait "$p"; } 2> /dev/null || true; done
  [ -f "$WINEPREFIX/system.reg" ] && wineserver -k > /dev/null 2>&1 || true
  if [ -n "${SOCKSBRIDGE_WINE_KEEP:-}" ]; then echo "wine-test: outputs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
fail() { echo "wine-test: FAIL: $*" >&2; exit 1; }
trap 'echo "wine-test: FAIL: status $? at line $LINENO: $BASH_COMMAND" >&2' ERR
t0=$EPOCHREALTIME
lap() { awk -v s="$1" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "== %-42s %6.1f s\n", s, b - a }'; t0=$EPOCHREALTIME; }

setup() {
  debian_rust_install gcc-mingw-w64-x86-64 wine64 wine curl python3
  lap "setup (apt)"
}

build() {
  "${CARGO[@]}" build "${ZFLAGS[@]}" --bin socksbridge
  lap "build socksbridge.exe"
}

PREFIX_READY=
prefix() {
  [ -z "$PREFIX_READY" ] || return 0
  PREFIX_READY=1
  mkdir -p "$(dirname "$WINEPREFIX")"
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    wine wineboot -i > "$W/wineboot.log" 2>&1 || fail "wineboot: $(cat "$W/wineboot.log")"
    wineserver -w
  fi
  # One wineserver for the whole run (clients start fast), its output nowhere near a pipe.
  # Status 2: one already runs for this prefix, which does as well.
  wineserver -p < /dev/null > /dev/null 2>&1 || [ $? = 2 ] || fail "wineserver -p"
  # Rust >= 1.78's std imports ProcessPrng from bcryptprimitives.dll, which Wine 8.0 lacks
  # (exit 53, no output): a stand-in in the prefix's system32.
  local dll=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
  if [ ! -f "$dll" ]; then
    cat > "$W/prng.c" <<'EOF'
#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
    printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n    ProcessPrng\n' > "$W/prng.def"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" "$W/prng.c" "$W/prng.def" -lbcrypt
  fi
  # What Wine's own WinINet reports for the LAN setting (per-connection query), for the log.
  mkdir -p "$(dirname "$PROBE")"
  cat > "$W/probe.c" <<'EOF'
#include <windows.h>
#include <wininet.h>
#include <stdio.h>
int main(void) {
    INTERNET_PER_CONN_OPTIONW o[4] = {{INTERNET_PER_CONN_FLAGS}, {INTERNET_PER_CONN_PROXY_SERVER},
        {INTERNET_PER_CONN_PROXY_BYPASS}, {INTERNET_PER_CONN_AUTOCONFIG_URL}};
    INTERNET_PER_CONN_OPTION_LISTW list = {sizeof list, NULL, 4, 0, o};
    DWORD size = sizeof list;
    if (!InternetQueryOptionW(NULL, INTERNET_OPTION_PER_CONNECTION_OPTION, &list, &size)) {
        printf("query failed: %lu\n", GetLastError());
        return 1;
    }
    printf("flags=0x%lx server=%ls bypass=%ls pac=%ls\n", o[0].Value.dwValue,
        o[1].Value.pszValue ? o[1].Value.pszValue : L"(none)",
        o[2].Value.pszValue ? o[2].Value.pszValue : L"(none)",
        o[3].Value.pszValue ? o[3].Value.pszValue : L"(none)");
    for (int i = 1; i < 4; i++) if (o[i].Value.pszValue) GlobalFree(o[i].Value.pszValue);
    return 0;
}
EOF
  if ! cmp -s "$W/probe.c" "${PROBE%.exe}.c"; then
    x86_64-w64-mingw32-gcc -O1 -o "$PROBE" "$W/probe.c" -lwininet
    cp "$W/probe.c" "${PROBE%.exe}.c"
  fi
  # Windows always has this key; socksbridge may add and remove a value in it.
  wine reg add "$K\\Connections" /f > /dev/null 2>&1
  lap "prefix"
}

# --- the lifecycle ---------------------------------------------------------------------------
reg_now() {  # the Internet Settings key (its values and subkey names) and the Connections key
  wine reg query "$K" > "$W/reg.raw" 2>&1 || true
  wine reg query "$K\\Connections" > "$W/conn.raw" 2>&1 || true
  tr -d '\r' < "$W/reg.raw"; tr -d '\r' < "$W/conn.raw"
}
# Outputs go to files that the checks grep: `| grep -q` would fail the pipe (pipefail) when
# grep stops reading early.
wininet_view() {  # what Wine's WinINet reports, in $W/probe.out
  wine "$PROBE" > "$W/probe.raw" 2>&1 || true
  tr -d '\r' < "$W/probe.raw" > "$W/probe.out"
}
sb() {  # a socksbridge.exe subcommand in the foreground; its output in $W/cmd.out
  local rc=0
  timeout 60 wine "$EXE" "$@" > "$W/cmd.raw" 2>&1 || rc=$?
  tr -d '\r' < "$W/cmd.raw" > "$W/cmd.out"
  return $rc
}
start() {  # NAME ARGS...: socksbridge.exe in the background, ready; SB = its pid
  local name=$1
  shift
  wine "$EXE" --listen "127.0.0.1:$PORT" --upstream direct:// "$@" \
    > "$W/$name.out" 2> "$W/$name.err" &
  SB=$!
  PIDS+=("$SB")
  for _ in $(seq 300); do
    grep -qs listening "$W/$name.out" && return 0
    kill -0 "$SB" 2> /dev/null || break
    sleep 0.05
  done
  fail "$CASE/$name: not ready: $(tr -d '\r' < "$W/$name.err")"
}
forget() {  # PID: reaped, not to be killed at exit
  local live=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || live+=("$p"); done
  PIDS=("${live[@]}")
}
ended() {  # NAME: waits for SB to exit, fails unless its status is $2 (default 0)
  local rc=0
  for _ in $(seq 300); do kill -0 "$SB" 2> /dev/null || break; sleep 0.05; done
  kill -0 "$SB" 2> /dev/null && fail "$CASE/$1: still running 15 s after the signal"
  wait "$SB" || rc=$?
  forget "$SB"
  [ "$rc" = "${2:-0}" ] || fail "$CASE/$1: exit status $rc: $(tr -d '\r' < "$W/$1.err" | tail -3)"
}
same_as_before() {  # WHAT: the registry is byte for byte as before, and no state file is left
  reg_now > "$W/now"
  diff -u "$W/before" "$W/now" > "$W/diff" || fail "$CASE: after $1 the registry differs:
$(cat "$W/diff")"
  [ ! -e "$STATE" ] || fail "$CASE: after $1 the state file is still there"
}
points_at_us() {  # MODE
  reg_now > "$W/during"
  cp "$W/during" "$W/$CASE-$1.reg"
  case $1 in
    global)
      grep -Eq "ProxyEnable +REG_DWORD +0x1\$" "$W/during" &&
        grep -Eq "ProxyServer +REG_SZ +http=127.0.0.1:$PORT;https=127.0.0.1:$PORT\$" "$W/during" &&
        ! grep -q AutoConfigURL "$W/during" ||
        fail "$CASE/global: the registry does not point at us:
$(grep -E 'Proxy|AutoConfig|Default' "$W/during")"
      # Programs using Wine's WinINet see it (Wine 8 reports the http= part only).
      wininet_view
      grep -q "server=127.0.0.1:$PORT" "$W/probe.out" ||
        fail "$CASE/global: Wine's WinINet does not see us: $(cat "$W/probe.out")" ;;
    pac)
      grep -Eq "AutoConfigURL +REG_SZ +http://127.0.0.1:$PORT/proxy.pac" "$W/during" &&
        grep -Eq "ProxyEnable +REG_DWORD +0x0\$" "$W/during" ||
        fail "$CASE/pac: the registry does not point at our PAC file:
$(grep -E 'Proxy|AutoConfig|Default' "$W/during")" ;;
  esac
  grep -q '"lan|flags"' "$STATE" || fail "$CASE: no LAN snapshot in the state file"
  ! grep -q '"ras:' "$STATE" || fail "$CASE: Wine reported a dial-up/VPN entry"
  sb system-proxy status || true
  grep -q '^ours: yes' "$W/cmd.out" || fail "$CASE/$1: status: $(cat "$W/cmd.out")"
}
through_us() {
  local body
  body=$(curl -sS --max-time 10 -x "http://127.0.0.1:$PORT" "http://127.0.0.1:$ORIGIN/") ||
    fail "$CASE: curl through the proxy failed"
  [ "$body" = origin ] || fail "$CASE: curl through the proxy got: $body"
}

set_start() {  # CASE: the user's setting before socksbridge starts
  local v
  for v in ProxyEnable ProxyServer ProxyOverride AutoConfigURL; do
    wine reg delete "$K" /v "$v" /f > /dev/null 2>&1 || true
  done
  wine reg delete "$K\\Connections" /v DefaultConnectionSettings /f > /dev/null 2>&1 || true
  rm -f "$STATE"
  add() { wine reg add "$K" /v "$1" /t "$2" /d "$3" /f > /dev/null || fail "reg add $1"; }
  case $1 in
    a-manual)   # the user's manual proxy, as a registry tool (or an older program) sets it
      add ProxyEnable REG_DWORD 1
      add ProxyServer REG_SZ userproxy.example:3128
      add ProxyOverride REG_SZ '<local>;*.corp.example' ;;
    b-pac)      # the user's PAC URL, with an old manual server kept but switched off
      add ProxyEnable REG_DWORD 0
      add ProxyServer REG_SZ old-proxy.example:8080
      add AutoConfigURL REG_SZ http://wpad.corp.example/proxy.pac ;;
    c-none)     # no proxy at all (Wine 8's own state once anything set ProxyEnable)
      add ProxyEnable REG_DWORD 0 ;;
    d-wpad)     # "automatically detect settings" (a fresh Windows): only the blob can say so,
      # as Windows and Wine 9 write it: version 0x46, counter 0, flags DIRECT|AUTO_DETECT,
      # three empty strings, ten zero DWORDs. Wine 8's WinINet ignores it.
      add ProxyEnable REG_DWORD 0
      wine reg add "$K\\Connections" /v DefaultConnectionSettings /t REG_BINARY \
        /d "460000000000000009000000$(printf '0%.0s' $(seq 104))" /f > /dev/null ||
        fail "reg add DefaultConnectionSettings" ;;
  esac
}

lifecycle_case() {
  CASE=$1
  set_start "$CASE"
  reg_now > "$W/before"
  cp "$W/before" "$W/$CASE-before.reg"
  wininet_view
  sb system-proxy status || fail "$CASE: status: $(cat "$W/cmd.out")"
  echo "-- $CASE: Wine's WinINet reports $(cat "$W/probe.out");" \
    "socksbridge reads: $(sed -n 's/^setting: //p' "$W/cmd.out")"

  # Global mode, ended by Ctrl+C; meanwhile a second instance and `restore` must leave it be.
  start global --system-proxy
  points_at_us global
  through_us
  local rc=0
  timeout 60 wine "$EXE" --listen "127.0.0.1:$PORT2" --upstream direct:// --system-proxy \
    > "$W/second.out" 2> "$W/second.err" || rc=$?
  [ "$rc" != 0 ] && grep -q 'another socksbridge (pid' "$W/second.err" ||
    fail "$CASE: a second instance did not refuse (status $rc): $(tr -d '\r' < "$W/second.err")"
  sb system-proxy restore || true
  grep -q 'is running and owns the setting' "$W/cmd.out" ||
    fail "$CASE: restore while running: $(cat "$W/cmd.out")"
  points_at_us global
  kill -INT "$SB"   # Wine turns SIGINT into CTRL_C_EVENT, which tokio::signal::ctrl_c sees
  ended global
  same_as_before "Ctrl+C (global)"

  # PAC mode, ended by Ctrl+C.
  start pac --system-proxy=pac
  points_at_us pac
  curl -sS --max-time 10 "http://127.0.0.1:$PORT/proxy.pac" > "$W/pac.js" ||
    fail "$CASE: the PAC file is not served"
  grep -q "PROXY 127.0.0.1:$PORT" "$W/pac.js" || fail "$CASE: the PAC file: $(cat "$W/pac.js")"
  through_us
  kill -INT "$SB"
  ended pac
  same_as_before "Ctrl+C (pac)"

  # Killed: the setting stays on us until `system-proxy restore`.
  start killed --system-proxy
  rc=0
  { kill -KILL "$SB" && wait "$SB"; } 2> /dev/null || rc=$?   # no "Killed" notice
  forget "$SB"
  [ "$rc" = 137 ] || fail "$CASE: SIGKILL: exit status $rc"
  reg_now > "$W/killed"
  grep -q "http=127.0.0.1:$PORT" "$W/killed" || fail "$CASE: after SIGKILL the setting moved"
  [ -e "$STATE" ] || fail "$CASE: after SIGKILL the state file is gone"
  sb system-proxy restore || true
  grep -q '^restored' "$W/cmd.out" || fail "$CASE: restore: $(cat "$W/cmd.out")"
  same_as_before "SIGKILL + system-proxy restore"
  lap "lifecycle $CASE"
}

lifecycle() {
  [ -x "$EXE" ] || fail "no $EXE: run the build step first"
  read -r PORT PORT2 ORIGIN < <(python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
  mkdir -p "$W/www"
  echo origin > "$W/www/index.html"
  python3 -m http.server "$ORIGIN" --bind 127.0.0.1 --directory "$W/www" \
    > "$W/origin.log" 2>&1 &
  PIDS+=($!)
  for c in a-manual b-pac c-none d-wpad; do lifecycle_case "$c"; done
  echo "lifecycle: every case restored the registry byte for byte"
}

unit() {
  # The library's tests, the Windows plan's included, on Windows (Wine); output via a file.
  "${CARGO[@]}" test "${ZFLAGS[@]}" --lib --no-run > "$W/build.log" 2>&1 ||
    { cat "$W/build.log"; fail "building the tests"; }
  lap "build the unit tests"
  local rc=0
  "${CARGO[@]}" test "${ZFLAGS[@]}" --lib > "$W/test.log" 2>&1 || rc=$?
  grep -E '^test result|FAILED|panicked' "$W/test.log" || true
  [ $rc = 0 ] || { cat "$W/test.log"; fail "cargo test --lib under Wine"; }
  # WinINet's own calls, which change the prefix's setting: a known one first.
  set_start c-none
  rc=0
  "${CARGO[@]}" test "${ZFLAGS[@]}" --lib -- --ignored system_proxy::windows::wininet \
    > "$W/wininet.log" 2>&1 || rc=$?
  grep -E '^test result|FAILED|panicked' "$W/wininet.log" || true
  [ $rc = 0 ] || { cat "$W/wininet.log"; fail "the WinINet calls under Wine"; }
  lap "unit tests under Wine"
}

STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(setup build prefix lifecycle test)
for step in "${STEPS[@]}"; do
  case $step in
    setup) setup ;;
    build) build ;;
    prefix) prefix ;;
    lifecycle) prefix; lifecycle ;;
    test) prefix; unit ;;
    *) echo "usage: $0 [setup|build|prefix|lifecycle|test]..." >&2; exit 2 ;;
  esac
done
echo "wine-test: ok"
