#!/usr/bin/env bash
# Tollgate beside nginx, in one run, on one stub: the figures of the performance goals (docs in bench/README.md).
#
# The stub upstream is nginx answering a recorded OpenAI chat completion (plain JSON, or the recorded event stream
# with `?stub=stream`) from memory. In front of it, one after the other: nothing (direct), nginx as a pass-through
# proxy (proxy_pass, keep-alive upstream, one worker), Tollgate with strict metering (each response's end waits for
# its event's commit) for a customer without credits and one with credits (one admission per request), then Tollgate
# with relaxed metering. wrk with one thread: latency at 1 connection, throughput at 32 connections. Then the time to
# first byte of streams (bench/stream_probe.py), and 5,000 concurrent streams through Tollgate (strict) from the
# bundled simulator, paced so that they overlap: peak RSS and events metered, with the streams opened all at once (a
# burst: the setup of 5,000 requests at the same moment sets the peak) and opened over RAMP seconds (all 5,000 still
# open together at the end of the ramp: the memory of the streams themselves), each on a freshly started Tollgate.
#
#   apt-get install -y nginx-light wrk && bash bench/compare.sh
#   DURATION=5s STREAMS=1000 bash bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
STREAMS=${STREAMS:-5000}
RAMP=${RAMP:-3}   # seconds over which the ramped concurrent streams open (each stream lasts about 6.4 s)
TTFB_REQUESTS=${TTFB_REQUESTS:-2000}
PARTS=${PARTS:-"latency streams"}   # latency: the wrk and time-to-first-byte tables; streams: the concurrent streams
# shellcheck source=bench/common.sh
source bench/common.sh
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
[ "${SKIP_BUILD:-}" = 1 ] || build_release >&2
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/tollgate-compare.XXXXXX)
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    for pid in "$work"/*.nginx.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && { echo "kept $work"; return; }
    rm -rf "$work"
}
trap cleanup EXIT

fixtures=Tests/TollgateCoreTests/Fixtures/recorded
plain_body=$(python3 -c "import json,sys; print(json.dumps(json.load(open('$fixtures/openai-chat-json-basic/response.body')), separators=(',', ':'), ensure_ascii=False))")
read_recorded_stream
stream_body=$recorded_stream
stub_port=$(free_port)
nginx_port=$(free_port)
# nginx_conf NAME SERVER_BLOCK…: a one-worker nginx config in $work/NAME.conf (no access log, keep-alive for ever).
nginx_conf() {
    local name=$1; shift
    cat > "$work/$name.conf" <<CONF
worker_processes 1;
pid $work/$name.nginx.pid;
error_log $work/$name.err;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  $*
}
CONF
}
nginx_conf stub "server {
    listen 127.0.0.1:$stub_port backlog=4096;
    location = /v1/chat/completions {
      if (\$arg_stub = stream) { rewrite ^ /stream last; }
      default_type application/json;
      return 200 '$plain_body';
    }
    location = /stream { internal; default_type text/event-stream; return 200 '$stream_body'; }
  }"
nginx_conf proxy "upstream stub { server 127.0.0.1:$stub_port; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / { proxy_pass http://stub; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }
  }"
nginx -c "$work/stub.conf" -p "$work"
nginx -c "$work/proxy.conf" -p "$work"

cat > "$work/plain.json" <<'JSON'
{"model":"gpt-5-nano","messages":[{"role":"user","content":"Hello!"}]}
JSON
cat > "$work/stream.json" <<'JSON'
{"model":"gpt-5-nano","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello!"}]}
JSON

tollgate_port=$(free_port)
# start_tollgate DURABILITY UPSTREAM: (re)starts Tollgate on $tollgate_port over $work/meter.db.
start_tollgate() {
    [ -n "${tollgate_pid:-}" ] && { kill "$tollgate_pid"; wait "$tollgate_pid" 2>/dev/null || true; }
    cat > "$work/tollgate.yaml" <<YAML
listen: "127.0.0.1:$tollgate_port"
meter: {path: $work/meter.db, durability: $1}
log: {level: warning}
proxy: {max_concurrent_per_key: 100000, max_concurrent_per_customer: 100000}
providers:
  openai: {base_url: "$2", api_key: "sk-bench"}
YAML
    # shellcheck disable=SC2086  # WRAP: a profiler's command line in front of Tollgate (heaptrack, perf record …)
    ${WRAP:-} "$BIN/tollgate" serve --config "$work/tollgate.yaml" 2>> "$work/tollgate.err" &
    tollgate_pid=$!
    pids+=("$tollgate_pid")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$tollgate_port/healthz" >/dev/null && return; sleep 0.1; done
    echo "Tollgate did not start:"; cat "$work/tollgate.err"; exit 1
}
start_tollgate strict "http://127.0.0.1:$stub_port"
key=$("$BIN/tollgate" keys create --customer bench --config "$work/tollgate.yaml" | tail -1)
credited=$("$BIN/tollgate" keys create --customer credited --config "$work/tollgate.yaml" | tail -1)
"$BIN/tollgate" credits grant --customer credited --amount 1000000 --config "$work/tollgate.yaml" >/dev/null

# wrk_run URL MODE CONNS KEY → RESULT line (wrk with one thread, unpaced)
wrk_run() {
    local query=""; [ "$2" = stream ] && query="?stub=stream"
    KEY=$4 BODY_FILE="$work/$2.json" RATE=0 CONNS=$3 \
        wrk -t1 -c"$3" -d"$DURATION" --latency -s bench/wrk/inference.lua "$1/v1/chat/completions$query" | grep '^RESULT'
}
us() { python3 -c "print(round($1 * 1000))"; }
declare -A p50 p99 rps errors
# measure NAME URL MODE KEY: latency at 1 connection, req/s at 32.
measure() {
    local one many
    wrk_run "$2" "$3" 2 "$4" >/dev/null  # warm-up
    one=$(wrk_run "$2" "$3" 1 "$4")
    many=$(wrk_run "$2" "$3" 32 "$4")
    p50[$1/$3]=$(us "$(field "$one" p50_ms)")
    p99[$1/$3]=$(us "$(field "$one" p99_ms)")
    rps[$1/$3]=$(field "$many" rps)
    errors[$1/$3]=$(( $(field "$one" errors) + $(field "$many" errors) ))
}
stub="http://127.0.0.1:$stub_port"
via_nginx="http://127.0.0.1:$nginx_port"
via_tollgate="http://127.0.0.1:$tollgate_port"
part() { [[ " $PARTS " == *" $1 "* ]]; }
if part latency; then
for mode in plain stream; do
    measure direct "$stub" "$mode" none
    measure nginx "$via_nginx" "$mode" none
    measure strict "$via_tollgate" "$mode" "$key"
    measure credits "$via_tollgate" "$mode" "$credited"
done
ttfb() { python3 bench/stream_probe.py ttfb "$1/v1/chat/completions?stub=stream" "$2" "$work/stream.json" "$TTFB_REQUESTS"; }
ttfb_direct=$(ttfb "$stub" none)
ttfb_nginx=$(ttfb "$via_nginx" none)
ttfb_strict=$(ttfb "$via_tollgate" "$key")
start_tollgate relaxed "http://127.0.0.1:$stub_port"
for mode in plain stream; do measure relaxed "$via_tollgate" "$mode" "$key"; done
ttfb_relaxed=$(ttfb "$via_tollgate" "$key")
fi

if part streams; then

# 5,000 concurrent streams: the simulator answers 16 tokens 400 ms apart, so every stream is open for about 6 s.
"$BIN/tollgate-sim" --port 0 --token-delay-ms 400 --no-compress > "$work/sim.out" 2> "$work/sim.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim_url=$(grep -o 'http://[^ ]*' "$work/sim.out" | head -1)
start_tollgate strict "$sim_url"
cat > "$work/slow.json" <<'JSON'
{"model":"gpt-4o-mini","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"Tell me a long story"}]}
JSON
events() { python3 -c "import sqlite3; print(sqlite3.connect('$work/meter.db').execute('select count(*) from events').fetchone()[0])"; }
before=$(events)
streams=$(python3 bench/stream_probe.py streams "$via_tollgate/v1/chat/completions" "$key" "$work/slow.json" "$STREAMS" "$tollgate_pid")
sleep 1
start_tollgate strict "$sim_url"   # afresh: memory freed by the burst stays in the process
ramped=$(python3 bench/stream_probe.py streams "$via_tollgate/v1/chat/completions" "$key" "$work/slow.json" "$STREAMS" "$tollgate_pid" "$RAMP")
sleep 1
after=$(events)
statuses=$(python3 -c "import sqlite3; print(', '.join(f'{s}: {n}' for s, n in sqlite3.connect('$work/meter.db').execute('select status, count(*) from events where id > \'\' group by status').fetchall()))")
fi

if part latency; then
ratio() { python3 -c "a, b = $1, $2; print(f'{a / b:.1f}' if b else 'n/a')"; }
added() { echo $(( ${p50[$1/$2]} - ${p50[direct/$2]} )); }
added99() { echo $(( ${p99[$1/$2]} - ${p99[direct/$2]} )); }
echo "| mode | path | p50 at 1 conn (µs) | p99 at 1 conn (µs) | added p50 / p99 (µs) | added p50 ÷ nginx's | req/s at 32 conns | ÷ nginx's req/s | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in plain stream; do
    for name in direct nginx strict credits relaxed; do
        if [ "$name" = direct ]; then
            echo "| $mode | $name | ${p50[$name/$mode]} | ${p99[$name/$mode]} | | | ${rps[$name/$mode]} | | ${errors[$name/$mode]} |"
        else
            echo "| $mode | $name | ${p50[$name/$mode]} | ${p99[$name/$mode]} | $(added "$name" "$mode") / $(added99 "$name" "$mode") | $(ratio "$(added "$name" "$mode")" "$(added nginx "$mode")") | ${rps[$name/$mode]} | $(python3 -c "print(f'{${rps[$name/$mode]} / ${rps[nginx/$mode]}:.0%}')") | ${errors[$name/$mode]} |"
        fi
    done
done
echo
echo "| stream time to first byte (µs, 1 conn) | p50 | p99 | added p50 |"
echo "|---|---|---|---|"
for name in direct nginx strict relaxed; do
    var=ttfb_$name
    line=${!var}
    echo "| $name | $(field "$line" p50_us) | $(field "$line" p99_us) | $(( $(field "$line" p50_us) - $(field "$ttfb_direct" p50_us) )) |"
done
echo
echo "credits: $(python3 -c "print(f'{${rps[credits/plain]} / ${rps[strict/plain]}:.0%}')") of the plain req/s of a customer without credits ($(python3 -c "print(f'{${rps[credits/stream]} / ${rps[strict/stream]}:.0%}')") streaming)"
fi
part streams && echo "$STREAMS concurrent streams (strict), opened at once: $streams; opened over $RAMP s: $ramped; events metered: $((after - before)) of $((2 * STREAMS)) (by status, all events: $statuses)"
