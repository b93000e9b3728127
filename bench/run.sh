#!/usr/bin/env bash
# The proxy benchmark (issue #5): one interleaved run on loopback of socksbridge against
# Privoxy, tinyproxy and hpts, all forwarding through the same Dante SOCKS5 server to the
# same nginx origin, plus the direct baselines. Prints absolute figures and our ratio to
# the best peer. Every run is bounded; the whole thing stops by itself.
#
# W1 and W4 also run contended (one busy-loop process per core alongside, as on a busy
# desktop), for socksbridge as shipped (two threads) and on one, and for an older build when
# SOCKSBRIDGE_BEFORE names its binary (before/after in the same run).
#
#   bench/run.sh            # ~7 minutes
#   bench/run.sh --quick    # ~2 minutes, shorter runs
#   SOCKSBRIDGE_BEFORE=/path/to/old/socksbridge bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=10
[ "${1:-}" = "--quick" ] && SECS=3

bash bench/install.sh
# Two builds: the binary as users get it (without the examples' dev-dependency features),
# then the load generator.
cargo build --release --locked --quiet --bin socksbridge
cargo build --release --locked --quiet --example loadgen
SB=$PWD/target/release/socksbridge
LOADGEN=$PWD/target/release/examples/loadgen
HPTS=$PWD/bench/node_modules/.bin/hpts

. bench/topology.sh
# ---- the proxies under test
P_SB=$(free_port); P_PRIVOXY=$(free_port); P_TINY=$(free_port); P_HPTS=$(free_port)
start "$SB" --listen "127.0.0.1:$P_SB" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error >/dev/null
SB_PID=${PIDS[-1]}
# The runtime the default was chosen against: everything on one thread.
P_SB1=$(free_port)
start "$SB" --listen "127.0.0.1:$P_SB1" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error --threads 1 >/dev/null
SB1_PID=${PIDS[-1]}
VARIANTS=(socksbridge-1t)
if [ -n "${SOCKSBRIDGE_BEFORE:-}" ]; then
  P_BEFORE=$(free_port)
  start "$SOCKSBRIDGE_BEFORE" --listen "127.0.0.1:$P_BEFORE" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error >/dev/null
  BEFORE_PID=${PIDS[-1]}
  VARIANTS+=(before)
fi
fill bench/conf/privoxy.conf "$RUN/privoxy.conf" PORT=$P_PRIVOXY SOCKS=$SOCKS RUN="$RUN"
start privoxy --no-daemon "$RUN/privoxy.conf" >/dev/null 2>&1
PRIVOXY_PID=${PIDS[-1]}
fill bench/conf/tinyproxy.conf "$RUN/tinyproxy.conf" PORT=$P_TINY SOCKS=$SOCKS RUN="$RUN"
start tinyproxy -d -c "$RUN/tinyproxy.conf" >/dev/null 2>&1
TINY_PID=${PIDS[-1]}
start node "$HPTS" -s "127.0.0.1:$SOCKS" -p "$P_HPTS" >/dev/null 2>&1
HPTS_PID=${PIDS[-1]}
for p in $ORIGIN $TLS $SOCKS $P_SB $P_SB1 ${P_BEFORE:-} $P_PRIVOXY $P_TINY $P_HPTS; do wait_port "$p"; done

NAMES=(socksbridge privoxy tinyproxy hpts)
declare -A PORT=([socksbridge]=$P_SB [socksbridge-1t]=$P_SB1 [before]=${P_BEFORE:-} [privoxy]=$P_PRIVOXY [tinyproxy]=$P_TINY [hpts]=$P_HPTS)
declare -A PID=([socksbridge]=$SB_PID [socksbridge-1t]=$SB1_PID [before]=${BEFORE_PID:-} [privoxy]=$PRIVOXY_PID [tinyproxy]=$TINY_PID [hpts]=$HPTS_PID)
declare -A R
RESULTS="$RUN/results.tsv"
: > "$RESULTS"
put() { R[$1,$2]=$3; printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }

# CPU accounting: ticks used by a set of processes, their reaped children included (Dante
# hands connections between child processes), turned into µs per operation.
CLK=$(getconf CLK_TCK)
ticks() { # ticks PID...
  local t=0 p v
  for p in "$@"; do
    # Fields after the ")" that closes the process name (which may contain spaces).
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}' || true)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# Both retitle their children, so find them from the main process's pid file.
family() { local main; main=$(cat "$1" 2>/dev/null || true); [ -n "$main" ] && echo "$main" $(pgrep -P "$main"); }
dante_pids() { family "$RUN/danted.pid"; }
nginx_pids() { family "$RUN/nginx.pid"; }
# Busy time of the whole machine (user, nice, system, irq, softirq), in ticks.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
cpu_begin() { # cpu_begin NAME
  C0_P=$(ticks ${PID[$1]:-}); C0_D=$(ticks $(dante_pids)); C0_N=$(ticks $(nginx_pids))
  C0_M=$(machine_ticks)
}
us_per() { awk -v t="$1" -v hz="$CLK" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }'; }
cpu_end() { # cpu_end NAME WORKLOAD OPERATIONS
  [ -n "${PID[$1]:-}" ] && put "$1" "$2.cpu_proxy_us" "$(us_per $(( $(ticks ${PID[$1]}) - C0_P )) "$3")"
  put "$1" "$2.cpu_dante_us" "$(us_per $(( $(ticks $(dante_pids)) - C0_D )) "$3")"
  put "$1" "$2.cpu_nginx_us" "$(us_per $(( $(ticks $(nginx_pids)) - C0_N )) "$3")"
  put "$1" "$2.cpu_machine_us" "$(us_per $(( $(machine_ticks) - C0_M )) "$3")"
}

# wrk: requests/s, MB/s, p99 and errors; an absolute-form target when going through a proxy.
wrk_run() { # wrk_run NAME WORKLOAD PATH [PROXYPORT]
  local url out
  cpu_begin "$1"
  if [ -n "${4:-}" ]; then
    out=$(TARGET="http://127.0.0.1:$ORIGIN$3" timeout $((SECS + 20)) wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency -s bench/proxy.lua "http://127.0.0.1:$4/" 2>&1 || true)
  else
    out=$(timeout $((SECS + 20)) wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency "http://127.0.0.1:$ORIGIN$3" 2>&1 || true)
  fi
  local rps mbs p99 errs non2xx count
  count=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_end "$1" "$2" "${count:-0}"
  rps=$(awk '/Requests\/sec/ {print int($2)}' <<<"$out")
  mbs=$(awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) v*=1024; else if (v ~ /KB/) v/=1024; else if (v ~ /^[0-9.]+B$/) v/=1048576; printf "%.0f", v}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  put "$1" "$2.rps" "${rps:-0}"; put "$1" "$2.mbs" "${mbs:-0}"; put "$1" "$2.p99" "${p99:--}"
  put "$1" "$2.errors" "$(( ${errs:-0} + ${non2xx:-0} ))"
}

# Background CPU load from other processes: one busy loop per core, bounded.
HOGS=()
hogs_start() {
  local i
  for i in $(seq 1 "$(nproc)"); do
    timeout $((SECS + 30)) sh -c 'while :; do :; done' &
    HOGS+=($!)
  done
}
hogs_stop() { kill "${HOGS[@]}" 2>/dev/null || true; wait "${HOGS[@]}" 2>/dev/null || true; HOGS=(); }

# W5 first, on fresh processes: idle RSS means before any load.
echo "== W5: RSS idle → 1,000 idle tunnels → after they close" >&2
w5() { # w5 NAME KEY AT_ONCE
  local out k
  out=$("$LOADGEN" idle "127.0.0.1:${PORT[$1]}" "127.0.0.1:$ORIGIN" 1000 "${PID[$1]}" "$3")
  for k in rss_idle_kib rss_loaded_kib rss_after_kib per_tunnel_kib failed; do
    put "$1" "$2.$k" "$(sed -n "s/.*$k=\([0-9.]*\).*/\1/p" <<<"$out")"
  done
}
for n in "${NAMES[@]}" "${VARIANTS[@]}"; do w5 "$n" W5 1; done
# The same 1,000 tunnels, 100 handshakes at a time: memory must not depend on arrival.
for n in socksbridge "${VARIANTS[@]}"; do w5 "$n" W5burst 100; done

echo "== startup to the ready line" >&2
out=$("$LOADGEN" startup "$SB" 20 --listen 127.0.0.1:0 --upstream "socks5h://127.0.0.1:$SOCKS")
put socksbridge startup.ms "$(sed -n 's/.*startup_ms_median=\([0-9.]*\).*/\1/p' <<<"$out")"

echo "== W1/W2: keep-alive GET through the proxy, 64 connections, ${SECS}s each" >&2
for w in "W1 /1k" "W2 /100k"; do
  set -- $w
  wrk_run direct "$1" "$2"
  for n in socksbridge privoxy tinyproxy; do wrk_run "$n" "$1" "$2" "${PORT[$n]}"; done
  put hpts "$1.rps" "n/a"; put hpts "$1.mbs" "n/a"; put hpts "$1.p99" "-"; put hpts "$1.errors" "crashes"
done
for n in "${VARIANTS[@]}"; do wrk_run "$n" W1 /1k "${PORT[$n]}"; done
echo "== W1 contended: the same, with one busy-loop process per core alongside" >&2
for n in socksbridge "${VARIANTS[@]}" privoxy tinyproxy; do
  hogs_start; wrk_run "$n" W1c /1k "${PORT[$n]}"; hogs_stop
done

echo "== W3: 256 MiB through a CONNECT tunnel, plain and TLS" >&2
# The median of three downloads: a single 256 MiB transfer takes a quarter of a second here.
curl_mbs() {
  for _ in 1 2 3; do
    curl -s -o /dev/null -w '%{speed_download}\n' --max-time 120 "$@" || echo 0
  done | sort -n | sed -n 2p | awk '{printf "%.0f", $1 / 1048576}'
}
put socks5-direct W3.mbs "$(curl_mbs --socks5-hostname "127.0.0.1:$SOCKS" "http://127.0.0.1:$ORIGIN/256m")"
put socks5-direct W3tls.mbs "$(curl_mbs -k --socks5-hostname "127.0.0.1:$SOCKS" "https://127.0.0.1:$TLS/256m")"
put direct W3.mbs "$(curl_mbs "http://127.0.0.1:$ORIGIN/256m")"
for n in "${NAMES[@]}"; do
  put "$n" W3.mbs "$(curl_mbs -p -x "http://127.0.0.1:${PORT[$n]}" "http://127.0.0.1:$ORIGIN/256m")"
  put "$n" W3tls.mbs "$(curl_mbs -k -x "http://127.0.0.1:${PORT[$n]}" "https://127.0.0.1:$TLS/256m")"
done

echo "== W4: new tunnels per second (CONNECT + GET 1 KiB + close), 8 workers" >&2
w4_put() { # w4_put NAME OUTPUT
  put "$1" W4.tps "$(sed -n 's/.*tunnels_per_sec=\([0-9]*\).*/\1/p' <<<"$2")"
  put "$1" W4.failed "$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$2")"
  cpu_end "$1" W4 "$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$2")"
}
# The ceiling for any HTTP proxy in front of Dante: the same loop speaking SOCKS5 to it.
cpu_begin socks5-direct
w4_put socks5-direct "$("$LOADGEN" socks-tunnels "127.0.0.1:$SOCKS" "127.0.0.1:$ORIGIN" /1k 8 "$SECS")"
w4_run() { # w4_run NAME WORKLOAD
  local out
  cpu_begin "$1"
  out=$("$LOADGEN" tunnels "127.0.0.1:${PORT[$1]}" "127.0.0.1:$ORIGIN" /1k 8 "$SECS")
  put "$1" "$2.tps" "$(sed -n 's/.*tunnels_per_sec=\([0-9]*\).*/\1/p' <<<"$out")"
  put "$1" "$2.failed" "$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$out")"
  cpu_end "$1" "$2" "$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$out")"
}
for n in "${NAMES[@]}" "${VARIANTS[@]}"; do w4_run "$n" W4; done
echo "== W4 contended" >&2
for n in "${NAMES[@]}" "${VARIANTS[@]}"; do hogs_start; w4_run "$n" W4c; hogs_stop; done

mkdir -p target && cp "$RESULTS" target/bench-results.tsv
python3 bench/report.py "$RESULTS" "$(nproc)" "$(date -u +%Y-%m-%d)" "$(nproc) cores, $(uname -m), $(. /etc/os-release; echo "$PRETTY_NAME")"
