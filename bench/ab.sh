#!/usr/bin/env bash
# Interleaved A/B of W1 (keep-alive GET 1 KiB, 64 connections) and W4 (new tunnels/s,
# 8 workers), idle and contended, for choices the full benchmark's fixed order cannot
# settle: socksbridge on one thread and on two, and optionally an older build. Each round
# runs every candidate once, the order reversed every other round, so neither position
# nor the machine's drift favours one; the medians are printed.
#
#   bench/ab.sh [ROUNDS] [SECONDS]                         # default 4 rounds of 5 s
#   SOCKSBRIDGE_BEFORE=/path/to/old/socksbridge bench/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-4}
SECS=${2:-5}

bash bench/install.sh
cargo build --release --locked --quiet --bin socksbridge
cargo build --release --locked --quiet --example loadgen
SB=$PWD/target/release/socksbridge
LOADGEN=$PWD/target/release/examples/loadgen
. bench/topology.sh

declare -A PORT
candidate() { # candidate NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  PORT[$name]=$(free_port)
  start "$bin" --listen "127.0.0.1:${PORT[$name]}" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error "$@" >/dev/null
  NAMES+=("$name")
}
NAMES=()
candidate 2-threads "$SB" --threads 2
candidate 1-thread "$SB" --threads 1
[ -n "${SOCKSBRIDGE_BEFORE:-}" ] && candidate before "$SOCKSBRIDGE_BEFORE"
for p in $ORIGIN $SOCKS "${PORT[@]}"; do wait_port "$p"; done

HOGS=()
hogs_start() { local i; for i in $(seq 1 "$(nproc)"); do timeout $((SECS + 30)) sh -c 'while :; do :; done' & HOGS+=($!); done; }
hogs_stop() { kill "${HOGS[@]}" 2>/dev/null || true; wait "${HOGS[@]}" 2>/dev/null || true; HOGS=(); }
w1() { TARGET="http://127.0.0.1:$ORIGIN/1k" timeout $((SECS + 20)) wrk -t2 -c64 -d"${SECS}s" -s bench/proxy.lua "http://127.0.0.1:$1/" 2>&1 | awk '/Requests\/sec/ {print int($2)}'; }
w4() { "$LOADGEN" tunnels "127.0.0.1:$1" "127.0.0.1:$ORIGIN" /1k 8 "$SECS" | sed -n 's/.*tunnels_per_sec=\([0-9]*\).*/\1/p'; }

RESULTS="$RUN/ab.tsv"
for round in $(seq 1 "$ROUNDS"); do
  order=("${NAMES[@]}")
  if [ $((round % 2)) = 0 ]; then
    mapfile -t order < <(printf '%s\n' "${NAMES[@]}" | tac)
  fi
  for n in "${order[@]}"; do
    printf '%s\tW1 idle\t%s\n' "$n" "$(w1 "${PORT[$n]}")" >> "$RESULTS"
    printf '%s\tW4 idle\t%s\n' "$n" "$(w4 "${PORT[$n]}")" >> "$RESULTS"
    hogs_start; printf '%s\tW1 contended\t%s\n' "$n" "$(w1 "${PORT[$n]}")" >> "$RESULTS"; hogs_stop
    hogs_start; printf '%s\tW4 contended\t%s\n' "$n" "$(w4 "${PORT[$n]}")" >> "$RESULTS"; hogs_stop
  done
  echo "round $round done" >&2
done
python3 - "$RESULTS" "$ROUNDS" "$SECS" <<'PY'
import sys, statistics
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    who, workload, value = line.rstrip("\n").split("\t")
    if value:
        runs[(workload, who)].append(int(value))
names = list(dict.fromkeys(who for _, who in runs))
print(f"\nMedians of {sys.argv[2]} interleaved rounds of {sys.argv[3]} s (W1 req/s, W4 tunnels/s):\n")
print("| workload | " + " | ".join(names) + " |")
print("|---|" + "---|" * len(names))
for workload in ["W1 idle", "W1 contended", "W4 idle", "W4 contended"]:
    cells = []
    for who in names:
        values = runs.get((workload, who), [])
        cells.append(f"{statistics.median(values):.0f} ({min(values)}–{max(values)})" if values else "–")
    print(f"| {workload} | " + " | ".join(cells) + " |")
PY
