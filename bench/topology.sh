# Shared by bench/run.sh and bench/profile.sh: a temporary run directory cleaned up on exit,
# port helpers, and the topology every proxy is measured in: an nginx origin (HTTP and
# HTTPS, files of 1 KiB, 100 KiB and 256 MiB) and Dante as the SOCKS5 server.
# Source it from the repository root; it sets RUN, ORIGIN, TLS and SOCKS.

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
