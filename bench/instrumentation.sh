#!/usr/bin/env bash
# What instrumentation costs: two Tollgate servers on one simulator, one with metrics, traces and a JSON request log
# line per event (spans exported to a local OTLP receiver), one with all of it off; unpaced load on each in turn,
# ROUNDS times (alternating, so that the machine's noise falls on both), plain and streaming. Prints the medians and
# the ratio instrumented / bare. Loopback only.
#   bash bench/instrumentation.sh                 # 10 s per run, 5 rounds, 32 connections
#   DURATION=5s ROUNDS=3 bash bench/instrumentation.sh
#   WITH="metrics" bash bench/instrumentation.sh  # only some of: metrics tracing requests (default: all three)
#   SAMPLE=0.1 bash bench/instrumentation.sh      # tracing.sample_ratio (default 1.0: every request traced)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
WITH=${WITH:-"metrics tracing requests"}
MODES=${MODES:-"plain stream"}
SAMPLE=${SAMPLE:-1.0}
# shellcheck source=bench/common.sh
source bench/common.sh
build_release

work=$(mktemp -d /tmp/tollgate-bench-instr.XXXXXX)
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    [ -f "$work/collector.pid" ] && kill "$(cat "$work/collector.pid")" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$work"
}
pids=()
trap cleanup EXIT

start_simulator

# The trace collector: nginx answering 200 to every POST (it reads and drops the batch), so that the collector's own
# work does not fall on the cores Tollgate is measured on (a real collector runs elsewhere). Python's http.server
# as a fallback, which costs this machine noticeably more.
otlp_port=$(free_port)
if command -v nginx >/dev/null; then
    cat > "$work/collector.conf" <<CONF
worker_processes 1;
pid $work/collector.pid;
error_log $work/collector.err;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_buffer_size 4m;
  default_type application/x-protobuf;
  server { listen 127.0.0.1:$otlp_port; location / { return 200 ""; } }
}
CONF
    nginx -c "$work/collector.conf" -p "$work"
else
    python3 - "$otlp_port" > /dev/null 2>&1 <<'PY' &
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
PY
    pids+=($!)
fi

start() { # name extra-yaml
    local name=$1 port
    port=$(free_port)
    {
        echo "listen: \"127.0.0.1:$port\""
        echo "meter: {path: $work/$name.db, durability: strict}"
        echo "providers:"
        echo "  openai: {base_url: \"$sim_url\", api_key: \"sk-bench\"}"
        echo "$2"
    } > "$work/$name.yaml"
    "$BIN/tollgate" keys create --customer bench --config "$work/$name.yaml" | tail -1 > "$work/$name.key"
    "$BIN/tollgate" serve --config "$work/$name.yaml" 2> "$work/$name.log" &
    pids+=($!)
    echo $! > "$work/$name.pid"
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    echo "$port" > "$work/$name.port"
}
start bare "log: {level: warning}
metrics: {enabled: false}"
instrumented="metrics: {enabled: false}"
case " $WITH " in *" metrics "*) instrumented="metrics: {enabled: true, customer_label: true}" ;; esac
case " $WITH " in *" tracing "*) instrumented+=$'\n'"tracing: {endpoint: \"http://127.0.0.1:$otlp_port\", sample_ratio: $SAMPLE}" ;; esac
case " $WITH " in
    *" requests "*) instrumented+=$'\n'"log: {level: info, format: json, requests: true}" ;;
    *) instrumented+=$'\n'"log: {level: warning}" ;;
esac
echo "instrumented: $WITH (sample_ratio $SAMPLE)"
start instrumented "$instrumented"

write_bodies

# The server's CPU time (user + system) in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$work/$1.pid")/stat"; }
run() { # name mode → RESULT line plus cpu_us (the server's CPU microseconds per request)
    local before after result
    before=$(cpu_ticks "$1")
    result=$(KEY=$(cat "$work/$1.key") BODY_FILE="$work/$2.json" RATE=0 CONNS=$CONNS \
        wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/wrk/inference.lua "http://127.0.0.1:$(cat "$work/$1.port")/v1/chat/completions" \
        | grep '^RESULT')
    after=$(cpu_ticks "$1")
    echo "$result cpu_us=$(python3 -c "print(f'{($after - $before) * 1e6 / $(getconf CLK_TCK) / max(1, $(field "$result" requests)):.0f}')")"
}
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.1f}")' "$@"; }

echo "| mode | server | req/s (median of $ROUNDS) | p50 ms | p99 ms | server CPU µs / request | runs (req/s) |"
echo "|---|---|---|---|---|---|---|"
for mode in $MODES; do
    for name in bare instrumented; do run "$name" "$mode" > /dev/null; done   # warm up
    declare -A rps=() p50=() p99=() cpu=()
    for _ in $(seq "$ROUNDS"); do
        for name in bare instrumented; do
            result=$(run "$name" "$mode")
            rps[$name]+=" $(field "$result" rps)"; p50[$name]+=" $(field "$result" p50_ms)"; p99[$name]+=" $(field "$result" p99_ms)"
            cpu[$name]+=" $(field "$result" cpu_us)"
        done
    done
    for name in bare instrumented; do
        # shellcheck disable=SC2086
        echo "| $mode | $name | $(median ${rps[$name]}) | $(median ${p50[$name]}) | $(median ${p99[$name]}) | $(median ${cpu[$name]}) |${rps[$name]} |"
    done
    # shellcheck disable=SC2086
    ratio=$(python3 -c "print(f'{$(median ${rps[instrumented]}) / $(median ${rps[bare]}):.3f}')")
    # shellcheck disable=SC2086
    cpu_ratio=$(python3 -c "print(f'{$(median ${cpu[instrumented]}) / $(median ${cpu[bare]}):.3f}')")
    echo "| $mode | instrumented / bare | $ratio | | | $cpu_ratio | |"
    unset rps p50 p99 cpu
done
echo
echo "request log lines written by the instrumented server: $(grep -c '"msg":"request"' "$work/instrumented.log" || true)"
echo "span batches the collector refused: $(grep -c 'Failed to export' "$work/instrumented.log" || true)"
