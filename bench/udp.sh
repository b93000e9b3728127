#!/usr/bin/env bash
# UDP through SocksBridge against the same SOCKS5 UDP client talking to the SOCKS server
# (Dante) itself, in one interleaved run: round trips per second with one datagram in
# flight (latency) and with 32 (throughput, MB/s each way), small and 1 KiB payloads.
# Each round runs both paths, the order reversed every other round; medians and the ratio
# (through us / direct) are printed. Through us is one more hop on the same two cores, so
# the script also prints what each relay itself spends: the CPU time per round trip of
# Dante's processes while the client talks to Dante, and of ours while it talks to us
# (each relays every datagram once each way). Everything on loopback, every loop bounded.
#
#   bench/udp.sh [ROUNDS] [SECONDS]                        # default 4 rounds of 5 s
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-4}
SECS=${2:-5}

bash bench/install.sh
cargo build --release --locked --quiet --bin socksbridge
cargo build --release --locked --quiet --example loadgen
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
SB=$TARGET_DIR/release/socksbridge
LOADGEN=$TARGET_DIR/release/examples/loadgen
. bench/topology.sh

ECHO=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start "$LOADGEN" udp-echo "$ECHO" $(( (ROUNDS * 8 + 4) * (SECS + 2) ))
US=$(free_port)
start "$SB" --listen "127.0.0.1:$US" --upstream "socks5://127.0.0.1:$SOCKS" --log-level error >/dev/null
for p in $SOCKS $US; do wait_port "$p"; done

SB_PID=${PIDS[-1]}
cpu_ticks() { # cpu_ticks PID... -> utime+stime (and reaped children's) in clock ticks
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13 + $14 + $15}') ))
  done
  echo "$total"
}
# Dante renames its children ("danted: io-child"): its processes are the one in its pid
# file and that one's children.
relay_pids() {
  if [ "$1" = us ]; then echo "$SB_PID"; return; fi
  local main; main=$(cat "$RUN/danted.pid")
  echo "$main $(pgrep -P "$main" | tr '\n' ' ')"
}
HZ=$(getconf CLK_TCK)

run() { # run PORT SIZE WINDOW -> "rtt mbps"
  "$LOADGEN" udp "127.0.0.1:$1" "127.0.0.1:$ECHO" "$2" "$3" "$SECS" |
    sed -n 's/udp_rtt_per_sec=\([0-9]*\) mb_per_sec=\([0-9.]*\).*/\1 \2/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A RTT MB CPU
for case in "64 1" "64 32" "1024 32"; do
  set -- $case
  for round in $(seq 1 "$ROUNDS"); do
    order="direct us"; [ $((round % 2)) = 0 ] && order="us direct"
    for who in $order; do
      port=$SOCKS; [ "$who" = us ] && port=$US
      pids=$(relay_pids "$who"); before=$(cpu_ticks $pids)
      read -r rtt mb < <(run "$port" "$1" "$2")
      after=$(cpu_ticks $pids)
      RTT[$case,$who]+="$rtt "; MB[$case,$who]+="$mb "
      CPU[$case,$who]+="$(awk -v t=$((after - before)) -v hz="$HZ" -v r="$rtt" -v s="$SECS" 'BEGIN {print (r > 0) ? t / hz * 1e6 / (r * s) : 0}') "
    done
  done
done

printf '%-22s %14s %14s %7s   %9s %9s   %s\n' workload "direct rt/s" "via us rt/s" ratio "direct MB/s" "us MB/s" "relay CPU µs/rt: Dante, us, Dante/us"
for case in "64 1" "64 32" "1024 32"; do
  set -- $case
  d=$(tr ' ' '\n' <<<"${RTT[$case,direct]}" | grep . | median)
  u=$(tr ' ' '\n' <<<"${RTT[$case,us]}" | grep . | median)
  dm=$(tr ' ' '\n' <<<"${MB[$case,direct]}" | grep . | median)
  um=$(tr ' ' '\n' <<<"${MB[$case,us]}" | grep . | median)
  dc=$(tr ' ' '\n' <<<"${CPU[$case,direct]}" | grep . | median)
  uc=$(tr ' ' '\n' <<<"${CPU[$case,us]}" | grep . | median)
  printf '%-22s %14s %14s %7.2f   %9s %9s   %.1f, %.1f, %.2f\n' "$1 B, $2 in flight" "$d" "$u" \
    "$(awk -v u="$u" -v d="$d" 'BEGIN {print (d > 0) ? u / d : 0}')" "$dm" "$um" \
    "$dc" "$uc" "$(awk -v u="$uc" -v d="$dc" 'BEGIN {print (u > 0) ? d / u : 0}')"
done
