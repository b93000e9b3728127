#!/usr/bin/env bash
# Where socksbridge's time goes, in the benchmark's topology (nginx origin, Dante SOCKS5):
#   - perf flame graphs of W1 (keep-alive GETs, 64 connections) and W4 (new tunnels), with
#     the share of samples spent in the kernel;
#   - callgrind instruction counts per forwarded request and per tunnel: repeatable figures
#     (same binary, same inputs) for comparing one change with the next.
# Output in target/profile/ (w1.svg, w4.svg, summary.txt). Bounded: about 1 minute.
#
#   bench/profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash bench/install.sh
. scripts/apt.sh
apt_install_missing linux-perf valgrind
command -v inferno-flamegraph >/dev/null || cargo install --locked --quiet inferno
cargo build --profile profiling --locked --quiet --bin socksbridge
cargo build --release --locked --quiet --example loadgen
SB=$PWD/target/profiling/socksbridge
LOADGEN=$PWD/target/release/examples/loadgen
OUT=$PWD/target/profile
mkdir -p "$OUT"

# perf needs to attach to another process.
if [ "$(id -u)" != 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 1 ]; then
  echo "perf cannot attach here (kernel.perf_event_paranoid > 1):" >&2
  echo "  sudo sysctl kernel.perf_event_paranoid=1   # then run this again" >&2
  exit 1
fi

. bench/topology.sh
for p in $ORIGIN $SOCKS; do wait_port "$p"; done

summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
summary "socksbridge profile, $(date -u +%Y-%m-%d), $(nproc) cores, upstream Dante, origin nginx"

# ---- perf: sample socksbridge while a workload runs, fold the stacks, draw the graph
perf_workload() { # perf_workload NAME COMMAND...
  local name=$1; shift
  local port; port=$(free_port)
  start "$SB" --listen "127.0.0.1:$port" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error >/dev/null
  local pid=${PIDS[-1]}
  wait_port "$port"
  PROXY_PORT=$port "$@" > "$RUN/$name.load" 2>&1 &
  local load=$!
  sleep 1
  perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$RUN/$name.data" -- sleep 5
  wait "$load" || true
  perf script -i "$RUN/$name.data" 2>/dev/null | inferno-collapse-perf --all > "$RUN/$name.folded"
  inferno-flamegraph --minwidth 0.5 --title "socksbridge, $name" < "$RUN/$name.folded" > "$OUT/$name.svg"
  # Leaf frames marked _[k] are kernel time: loopback TCP inside our own reads and writes.
  local kernel
  kernel=$(awk '{n = $NF; $NF = ""; split($0, f, ";"); leaf = f[length(f)]; t += n; if (leaf ~ /_\[k\] *$/) k += n} END {printf "%.0f", 100 * k / t}' "$RUN/$name.folded")
  summary "$name: ${kernel}% of samples in the kernel; flame graph target/profile/$name.svg"
  kill "$pid" 2>/dev/null || true
}
w1() { TARGET="http://127.0.0.1:$ORIGIN/1k" timeout 20 wrk -t2 -c64 -d8s -s bench/proxy.lua "http://127.0.0.1:$PROXY_PORT/"; }
w4() { "$LOADGEN" tunnels "127.0.0.1:$PROXY_PORT" "127.0.0.1:$ORIGIN" /1k 8 8; }
perf_workload w1 w1
perf_workload w4 w4

# ---- callgrind: instructions for N and N + 1,000 operations; the difference / 1,000
instructions() { # instructions COMMAND-ARGS... (with PROXY as the proxy address)
  local port; port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$RUN/cg.out" \
    "$SB" --listen "127.0.0.1:$port" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error >/dev/null 2>&1 &
  local vg=$!
  PIDS+=("$vg")
  wait_port "$port"
  "$LOADGEN" "${@//PROXY/127.0.0.1:$port}" >/dev/null
  kill -INT "$vg"; wait "$vg" || true
  sed -n 's/^summary: //p' "$RUN/cg.out"
}
per_op() { # per_op LABEL MODE ARGS-BEFORE-COUNT...
  local label=$1; shift
  local small big
  small=$(instructions "$@" 100); big=$(instructions "$@" 1100)
  if [ -z "$small" ] || [ -z "$big" ]; then
    echo "callgrind wrote no totals for $label" >&2; exit 1
  fi
  summary "$label: $(( (big - small) / 1000 )) instructions (callgrind, user space)"
}
per_op "per forwarded request (GET 1 KiB, keep-alive)" requests PROXY "http://127.0.0.1:$ORIGIN/1k"
per_op "per tunnel (CONNECT + GET 1 KiB + close)" tunnel-count PROXY "127.0.0.1:$ORIGIN" /1k
