#!/usr/bin/env bash
# Two (or more) Tollgate builds alternated in one run against one nginx stub: what one change bought, measured where
# the machine's drift between runs (±10–20 %) cannot pass for it. Per build and round: wrk's p50 and req/s, and the
# whole process's CPU time (user + system) per request, read from /proc — the steadiest figure on a shared machine.
#
#   bash bench/ab.sh /tmp/before/tollgate .build-release/release/tollgate
#   DURABILITY=strict CONNS=32 ROUNDS=4 CREDITS=1 bash bench/ab.sh A B
#
# Knobs: DURABILITY (relaxed), CONNS (1), ROUNDS (3), DURATION (4s), CREDITS=1 (a customer with credits: one admission
# per request), PROMPT_KB=24 (a chat history of about that many KB as the request body, instead of 70 bytes),
# STREAM=1 (streaming requests: the stub answers the recorded OpenAI chat stream, the body asks for usage),
# THREADS=1 (also the CPU per request of each kind of thread: event loops, meter writer, checkpoints …),
# ALLOCATIONS=1 (also the calls to malloc per request, by kind of thread: a perf uprobe on libc's malloc, which needs
# perf and root and slows the run, so that its timings are not comparable). Build a "before" binary with e.g.
# `git worktree add /tmp/before <commit>` and a release build there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,15p "$0"; exit 1; }
# shellcheck source=bench/common.sh
source bench/common.sh
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
DURABILITY=${DURABILITY:-relaxed}
CONNS=${CONNS:-1}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}

work=$(mktemp -d /tmp/tollgate-ab.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -f "$work/stub.pid" ] && kill "$(cat "$work/stub.pid")" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fixtures=Tests/TollgateCoreTests/Fixtures/recorded
if [ "${STREAM:-}" = 1 ]; then
    read_recorded_stream
    body=$recorded_stream
    content_type=text/event-stream
else
    body=$(python3 -c "import json; print(json.dumps(json.load(open('$fixtures/openai-chat-json-basic/response.body')), separators=(',', ':'), ensure_ascii=False))")
    content_type=application/json
fi
stub_port=$(free_port)
cat > "$work/stub.conf" <<CONF
worker_processes 1;
pid $work/stub.pid;
error_log $work/stub.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$stub_port; location / { default_type $content_type; return 200 '$body'; } }
}
CONF
nginx -c "$work/stub.conf" -p "$work"
if [ -n "${PROMPT_KB:-}" ]; then
    # A chat history of about PROMPT_KB kilobytes: alternating turns of 1.1 KB of text each.
    python3 -c "
import json, sys
turn = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ' * 8
turns = max(1, round(int(sys.argv[1]) * 1024 / (len(turn) + 40)))
messages = [{'role': 'user' if i % 2 == 0 else 'assistant', 'content': turn} for i in range(turns)]
print(json.dumps({'model': 'gpt-5-nano', 'messages': messages}))" "$PROMPT_KB" > "$work/plain.json"
elif [ "${STREAM:-}" = 1 ]; then
    echo '{"model":"gpt-5-nano","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello!"}]}' > "$work/plain.json"
else
    echo '{"model":"gpt-5-nano","messages":[{"role":"user","content":"Hello!"}]}' > "$work/plain.json"
fi
port=$(free_port)
cat > "$work/tollgate.yaml" <<YAML
listen: "127.0.0.1:$port"
meter: {path: $work/meter.db, durability: $DURABILITY}
log: {level: warning}
proxy: {max_concurrent_per_key: 100000, max_concurrent_per_customer: 100000}
providers:
  openai: {base_url: "http://127.0.0.1:$stub_port", api_key: "sk-bench"}
YAML
"$1" keys create --customer bench --config "$work/tollgate.yaml" | tail -1 > "$work/key"
if [ "${CREDITS:-}" = 1 ]; then
    "$1" credits grant --customer bench --amount 1000000 --config "$work/tollgate.yaml" >/dev/null
fi

# Clock ticks per kind of thread of process $1 ("NIO-SGLTN-1-#2" counts as "NIO-SGLTN-1-#"): one "name ticks" per line.
thread_ticks() {
    for task in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr -d '0-9 ' < "$task/comm")" "$(awk '{print $14 + $15}' "$task/stat")"
    done | awk '{ticks[$1] += $2} END {for (name in ticks) print name, ticks[name]}' | sort
}

run_wrk() {  # CONNS DURATION
    KEY=$(cat "$work/key") BODY_FILE="$work/plain.json" RATE=0 CONNS=$1 \
        wrk -t1 -c"$1" -d"$2" --latency -s bench/wrk/inference.lua "http://127.0.0.1:$port/v1/chat/completions" | grep '^RESULT'
}
if [ "${ALLOCATIONS:-}" = 1 ] && ! perf probe -l 2>/dev/null | grep -q 'probe_libc:malloc '; then
    perf probe -q -x "$(ldd "$1" | awk '/libc.so.6/ {print $3}')" --add malloc || { echo "ALLOCATIONS=1 needs perf and root"; exit 1; }
fi
echo "durability=$DURABILITY conns=$CONNS duration=$DURATION credits=${CREDITS:-0} stream=${STREAM:-0}"
for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        "$bin" serve --config "$work/tollgate.yaml" 2>> "$work/tollgate.err" &
        pid=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        run_wrk "$CONNS" 1s >/dev/null  # warm-up
        before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        [ "${THREADS:-}" = 1 ] && thread_ticks "$pid" > "$work/threads.before"
        if [ "${ALLOCATIONS:-}" = 1 ]; then
            perf record -q -e probe_libc:malloc -p "$pid" -o "$work/malloc.data" -- sleep 3600 2>/dev/null &
            recorder=$!
            sleep 0.5
        fi
        result=$(run_wrk "$CONNS" "$DURATION")
        after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        if [ "${ALLOCATIONS:-}" = 1 ]; then
            kill -INT "$recorder"
            wait "$recorder" 2>/dev/null || true
        fi
        [ "${THREADS:-}" = 1 ] && thread_ticks "$pid" > "$work/threads.after"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=""
        ticks=$(getconf CLK_TCK)
        cpu=$(python3 -c "print(round(($after - $before) * 1e6 / $ticks / $(field "$result" requests)))")
        printf "round %d  %-50s cpu/request %4d µs  p50 %s ms  p99 %s ms  %s req/s  errors %s\n" "$round" "$bin" "$cpu" \
            "$(field "$result" p50_ms)" "$(field "$result" p99_ms)" "$(field "$result" rps)" "$(field "$result" errors)"
        if [ "${ALLOCATIONS:-}" = 1 ]; then
            perf script -F comm -i "$work/malloc.data" 2>/dev/null | tr -d '0-9 ' | sort | uniq -c \
                | awk -v requests="$(field "$result" requests)" '$1 / requests >= 0.05 {printf "          %-20s %5.1f mallocs/request\n", $2, $1 / requests}'
        fi
        if [ "${THREADS:-}" = 1 ]; then
            join "$work/threads.before" "$work/threads.after" | awk -v ticks="$ticks" -v requests="$(field "$result" requests)" \
                '$3 > $2 {printf "          %-20s %5.1f µs/request\n", $1, ($3 - $2) * 1e6 / ticks / requests}'
        fi
    done
done
