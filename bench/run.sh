#!/usr/bin/env bash
# The proxy benchmark (issue #5): one interleaved run on loopback of socksbridge against
# Privoxy, tinyproxy and hpts, all forwarding through the same Dante SOCKS5 server to the
# same nginx origin, plus the direct baselines. Prints absolute figures and our ratio to
# the best peer. Every run is bounded; the whole thing stops by itself.
#
#   bench/run.sh            # ~4 minutes
#   bench/run.sh --quick    # ~1 minute, shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=10
[ "${1:-}" = "--quick" ] && SECS=3

bash bench/install.sh
cargo build --release --locked --quiet --bin socksbridge --example loadgen
SB=$PWD/target/release/socksbridge
LOADGEN=$PWD/target/release/examples/loadgen
HPTS=$PWD/bench/node_modules/.bin/hpts

RUN=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listening on $1" >&2; return 1
}
fill() { # fill TEMPLATE OUT KEY=VALUE...
  local text; text=$(cat "$1"); shift; local out=$1; shift
  for kv in "$@"; do text=${text//\{\{${kv%%=*}\}\}/${kv#*=}}; done
  printf '%s\n' "$text" > "$out"
}
start() { "$@" & PIDS+=($!); }

# ---- origin: nginx with 1 KiB, 100 KiB and 256 MiB files, HTTP and HTTPS
mkdir -p "$RUN/www" "$RUN/body" "$RUN/proxy" "$RUN/fastcgi" "$RUN/uwsgi" "$RUN/scgi"
head -c 1024 /dev/urandom > "$RUN/www/1k"
head -c 102400 /dev/urandom > "$RUN/www/100k"
head -c $((256 * 1024 * 1024)) /dev/zero > "$RUN/www/256m"
# nginx's workers run unprivileged: the temporary tree must be readable by them.
chmod -R a+rX "$RUN"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RUN/key.pem" -out "$RUN/cert.pem" -subj /CN=localhost -days 1 2>/dev/null
ORIGIN=$(free_port); TLS=$(free_port)
fill bench/conf/nginx.conf "$RUN/nginx.conf" ROOT="$RUN/www" PORT=$ORIGIN TLS_PORT=$TLS CERT="$RUN/cert.pem" KEY="$RUN/key.pem" RUN="$RUN"
start nginx -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log"
# ---- the SOCKS5 server everyone goes through
SOCKS=$(free_port)
fill bench/conf/danted.conf "$RUN/danted.conf" PORT=$SOCKS
start danted -f "$RUN/danted.conf" -p "$RUN/danted.pid" 2>/dev/null
# ---- the proxies under test
P_SB=$(free_port); P_PRIVOXY=$(free_port); P_TINY=$(free_port); P_HPTS=$(free_port)
start "$SB" --listen "127.0.0.1:$P_SB" --upstream "socks5h://127.0.0.1:$SOCKS" --log-level error >/dev/null
SB_PID=${PIDS[-1]}
fill bench/conf/privoxy.conf "$RUN/privoxy.conf" PORT=$P_PRIVOXY SOCKS=$SOCKS RUN="$RUN"
start privoxy --no-daemon "$RUN/privoxy.conf" >/dev/null 2>&1
PRIVOXY_PID=${PIDS[-1]}
fill bench/conf/tinyproxy.conf "$RUN/tinyproxy.conf" PORT=$P_TINY SOCKS=$SOCKS RUN="$RUN"
start tinyproxy -d -c "$RUN/tinyproxy.conf" >/dev/null 2>&1
TINY_PID=${PIDS[-1]}
start node "$HPTS" -s "127.0.0.1:$SOCKS" -p "$P_HPTS" >/dev/null 2>&1
HPTS_PID=${PIDS[-1]}
for p in $ORIGIN $TLS $SOCKS $P_SB $P_PRIVOXY $P_TINY $P_HPTS; do wait_port "$p"; done

NAMES=(socksbridge privoxy tinyproxy hpts)
declare -A PORT=([socksbridge]=$P_SB [privoxy]=$P_PRIVOXY [tinyproxy]=$P_TINY [hpts]=$P_HPTS)
declare -A PID=([socksbridge]=$SB_PID [privoxy]=$PRIVOXY_PID [tinyproxy]=$TINY_PID [hpts]=$HPTS_PID)
declare -A R
RESULTS="$RUN/results.tsv"
: > "$RESULTS"
put() { R[$1,$2]=$3; printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }

# wrk: requests/s, MB/s, p99 and errors; an absolute-form target when going through a proxy.
wrk_run() { # wrk_run NAME WORKLOAD PATH [PROXYPORT]
  local url out
  if [ -n "${4:-}" ]; then
    out=$(TARGET="http://127.0.0.1:$ORIGIN$3" timeout $((SECS + 20)) wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency -s bench/proxy.lua "http://127.0.0.1:$4/" 2>&1 || true)
  else
    out=$(timeout $((SECS + 20)) wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency "http://127.0.0.1:$ORIGIN$3" 2>&1 || true)
  fi
  local rps mbs p99 errs non2xx
  rps=$(awk '/Requests\/sec/ {print int($2)}' <<<"$out")
  mbs=$(awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) v*=1024; else if (v ~ /KB/) v/=1024; else if (v ~ /^[0-9.]+B$/) v/=1048576; printf "%.0f", v}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  put "$1" "$2.rps" "${rps:-0}"; put "$1" "$2.mbs" "${mbs:-0}"; put "$1" "$2.p99" "${p99:--}"
  put "$1" "$2.errors" "$(( ${errs:-0} + ${non2xx:-0} ))"
}

# W5 first, on fresh processes: idle RSS means before any load.
echo "== W5: RSS idle → 1,000 idle tunnels → after they close" >&2
for n in "${NAMES[@]}"; do
  out=$("$LOADGEN" idle "127.0.0.1:${PORT[$n]}" "127.0.0.1:$ORIGIN" 1000 "${PID[$n]}")
  for k in rss_idle_kib rss_loaded_kib rss_after_kib per_tunnel_kib failed; do
    put "$n" "W5.$k" "$(sed -n "s/.*$k=\([0-9.]*\).*/\1/p" <<<"$out")"
  done
done

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

echo "== W3: 256 MiB through a CONNECT tunnel, plain and TLS" >&2
curl_mbs() { curl -s -o /dev/null -w '%{speed_download}' --max-time 120 "$@" | awk '{printf "%.0f", $1/1048576}'; }
put socks5-direct W3.mbs "$(curl_mbs --socks5-hostname "127.0.0.1:$SOCKS" "http://127.0.0.1:$ORIGIN/256m")"
put socks5-direct W3tls.mbs "$(curl_mbs -k --socks5-hostname "127.0.0.1:$SOCKS" "https://127.0.0.1:$TLS/256m")"
put direct W3.mbs "$(curl_mbs "http://127.0.0.1:$ORIGIN/256m")"
for n in "${NAMES[@]}"; do
  put "$n" W3.mbs "$(curl_mbs -p -x "http://127.0.0.1:${PORT[$n]}" "http://127.0.0.1:$ORIGIN/256m")"
  put "$n" W3tls.mbs "$(curl_mbs -k -x "http://127.0.0.1:${PORT[$n]}" "https://127.0.0.1:$TLS/256m")"
done

echo "== W4: new tunnels per second (CONNECT + GET 1 KiB + close), 8 workers" >&2
for n in "${NAMES[@]}"; do
  out=$("$LOADGEN" tunnels "127.0.0.1:${PORT[$n]}" "127.0.0.1:$ORIGIN" /1k 8 "$SECS")
  put "$n" W4.tps "$(sed -n 's/.*tunnels_per_sec=\([0-9]*\).*/\1/p' <<<"$out")"
  put "$n" W4.failed "$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$out")"
done

mkdir -p target && cp "$RESULTS" target/bench-results.tsv
python3 bench/report.py "$RESULTS" "$(date -u +%Y-%m-%d)" "$(nproc) cores, $(uname -m), $(. /etc/os-release; echo "$PRETTY_NAME")"
