#!/usr/bin/env bash
# Reference point: what a plain reverse proxy (nginx proxy_pass, keep-alive upstream) adds on this machine, measured
# exactly as bench/run.sh measures Tollgate (same simulator, same wrk pacing, plain chat completions).
#   apt-get install -y nginx-light wrk && bash bench/proxy-floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
RATES=${RATES:-"100 500"}
BIN=${SCRATCH:-.build-release}/release
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
[ -x "$BIN/tollgate-sim" ] || swift build -c release --scratch-path "${SCRATCH:-.build-release}" --product tollgate-sim

work=$(mktemp -d /tmp/tollgate-floor.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$BIN/tollgate-sim" --port 0 --token-delay-ms 0 --no-compress > "$work/sim.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim_url=$(grep -o 'http://[^ ]*' "$work/sim.out" | head -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream sim { server ${sim_url#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.5
echo '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in a few words please"}]}' > "$work/plain.json"
run() { KEY=none BODY_FILE="$work/plain.json" RATE=$2 CONNS=10 wrk -t2 -c10 -d"$DURATION" -s bench/wrk/inference.lua "$1/v1/chat/completions" | grep '^RESULT'; }
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
echo "| rate (req/s) | direct p50 / p99 (ms) | via nginx p50 / p99 (ms) | added p50 (ms) |"
echo "|---|---|---|---|"
for rate in $RATES; do
    direct=$(run "$sim_url" "$rate")
    proxied=$(run "http://127.0.0.1:$port" "$rate")
    added=$(python3 -c "print(f'{$(field "$proxied" p50_ms) - $(field "$direct" p50_ms):.3f}')")
    echo "| $rate | $(field "$direct" p50_ms) / $(field "$direct" p99_ms) | $(field "$proxied" p50_ms) / $(field "$proxied" p99_ms) | $added |"
done
