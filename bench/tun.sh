#!/usr/bin/env bash
# The whole-desktop mode against the mixed port of the same socksbridge, in one interleaved
# run: a 1 GiB download by a program with no proxy settings (captured by the TUN) against
# the same download through the mixed port (SOCKS5), and new flows per second the same two
# ways (connect, GET 1 KiB, close, 8 at a time: loadgen plain-tunnels against
# socks-tunnels). Both go through the same microsocks to the same nginx, so the ratio
# (TUN / port) is what the TUN's packet path costs. Two network namespaces made here, with
# documentation addresses (nothing leaves them): "desk" runs socksbridge --tun and the
# clients, "isp" runs microsocks (203.0.113.1:1080) and nginx (198.51.100.7:8080). Needs
# root. Each round runs both paths, the order reversed every other round; medians printed.
#
#   bench/tun.sh [ROUNDS] [SECONDS]      # default 4 rounds; SECONDS per flow-rate run (5)
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

RUN=$(mktemp -d)
DESK=sbbdesk$$
ISP=sbbisp$$
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$DESK" 2>/dev/null || true
  ip netns del "$ISP" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
in_desk() { ip netns exec "$DESK" "$@"; }
in_isp() { ip netns exec "$ISP" "$@"; }

ip netns add "$DESK"
ip netns add "$ISP"
ip -n "$DESK" link add desk0 type veth peer name isp0 netns "$ISP"
for ns in "$DESK" "$ISP"; do
  ip -n "$ns" link set lo up
  # Eight clients at a time for seconds on end: more ports, reused once closed.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
done
ip -n "$DESK" addr add 192.0.2.2/24 dev desk0
ip -n "$DESK" link set desk0 up
ip -n "$DESK" route add default via 192.0.2.1
ip -n "$ISP" addr add 192.0.2.1/24 dev isp0
ip -n "$ISP" link set isp0 up
ip -n "$ISP" addr add 203.0.113.1/32 dev lo
ip -n "$ISP" addr add 198.51.100.7/32 dev lo

mkdir -p "$RUN/www" "$RUN/body" "$RUN/proxy" "$RUN/fastcgi" "$RUN/uwsgi" "$RUN/scgi" "$RUN/state"
truncate -s 1G "$RUN/www/1g"
head -c 1024 /dev/urandom > "$RUN/www/1k"
chmod -R a+rX "$RUN"
cat > "$RUN/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $RUN/body;
  proxy_temp_path $RUN/proxy;
  fastcgi_temp_path $RUN/fastcgi;
  uwsgi_temp_path $RUN/uwsgi;
  scgi_temp_path $RUN/scgi;
  server { listen 198.51.100.7:8080; root $RUN/www; }
}
EOF
in_isp nginx -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" & PIDS+=($!)
in_isp microsocks -i 203.0.113.1 -p 1080 >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do
  in_isp ss -Hltn 'sport = :8080' | grep -q . && in_isp ss -Hltn 'sport = :1080' | grep -q . && break
  sleep 0.05
done

in_desk env XDG_STATE_HOME="$RUN/state" "$SB" --tun --listen 127.0.0.1:1095 \
  --upstream socks5://203.0.113.1:1080 --log-level error > "$RUN/ready" & PIDS+=($!)
for _ in $(seq 1 200); do grep -q "whole desktop" "$RUN/ready" 2>/dev/null && break; sleep 0.05; done
grep -q "whole desktop" "$RUN/ready" || { echo "socksbridge --tun did not start" >&2; exit 1; }

URL=http://198.51.100.7:8080
bulk() { # bulk tun|port -> MB/s of one 1 GiB download
  local via=(--noproxy '*')
  [ "$1" = port ] && via=(-x socks5://127.0.0.1:1095)
  in_desk curl -sf "${via[@]}" --max-time 120 -o /dev/null -w '%{speed_download}\n' "$URL/1g" |
    awk '{printf "%.0f\n", $1 / 1e6}'
}
rate() { # rate tun|port -> new flows per second
  if [ "$1" = tun ]; then
    in_desk "$LOADGEN" plain-tunnels 198.51.100.7:8080 /1k 8 "$SECS"
  else
    in_desk "$LOADGEN" socks-tunnels 127.0.0.1:1095 198.51.100.7:8080 /1k 8 "$SECS"
  fi | sed -n 's/tunnels_per_sec=\([0-9]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A BULK RATE
for round in $(seq 1 "$ROUNDS"); do
  order="tun port"; [ $((round % 2)) = 0 ] && order="port tun"
  for who in $order; do
    BULK[$who]+="$(bulk "$who") "
    RATE[$who]+="$(rate "$who") "
  done
done

pick() { tr ' ' '\n' <<<"$1" | grep . | median; }
bt=$(pick "${BULK[tun]}"); bp=$(pick "${BULK[port]}")
rt=$(pick "${RATE[tun]}"); rp=$(pick "${RATE[port]}")
printf '%-34s %12s %12s %7s\n' workload "TUN" "mixed port" "TUN/port"
printf '%-34s %12s %12s %7.2f\n' "1 GiB download, MB/s" "$bt" "$bp" "$(awk -v a="$bt" -v b="$bp" 'BEGIN {print a / b}')"
printf '%-34s %12s %12s %7.2f\n' "new flows/s (GET 1 KiB, 8 at once)" "$rt" "$rp" "$(awk -v a="$rt" -v b="$rp" 'BEGIN {print a / b}')"
echo "rounds: $ROUNDS (bulk: ${BULK[tun]}/ ${BULK[port]}; flows: ${RATE[tun]}/ ${RATE[port]})"
