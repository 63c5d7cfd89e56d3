#!/usr/bin/env bash
# Load benchmark: the simulator direct vs. through Tollgate (strict metering on), plain and streaming, at fixed
# rates, then unpaced for the highest sustained rate. Prints a Markdown table. Loopback only; every run is bounded.
#   bash bench/run.sh                       # 15 s per point, rates 100 500 1000
#   DURATION=30s RATES="500" bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
RATES=${RATES:-"100 500 1000"}
CONNS=${CONNS:-10}
MAX_CONNS=${MAX_CONNS:-64}
# shellcheck source=bench/common.sh
source bench/common.sh
build_release

work=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
pids=()
trap cleanup EXIT

start_simulator
proxy_port=$(free_port)
cat > "$work/tollgate.yaml" <<YAML
listen: "127.0.0.1:$proxy_port"
meter: {path: $work/bench.db, durability: strict}
log_level: warning
providers:
  openai: {base_url: "$sim_url", api_key: "sk-bench"}
YAML
key=$("$BIN/tollgate" keys create --customer bench --config "$work/tollgate.yaml" | tail -1)
"$BIN/tollgate" serve --config "$work/tollgate.yaml" 2> "$work/tollgate.err" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$proxy_port/healthz" >/dev/null && break; sleep 0.1; done

write_bodies

run() { # target mode rate conns
    local url=$1 mode=$2 rate=$3 conns=$4
    KEY=$key BODY_FILE="$work/$mode.json" RATE=$rate CONNS=$conns \
        wrk -t2 -c"$conns" -d"$DURATION" --latency -s bench/wrk/inference.lua "$url/v1/chat/completions" | grep '^RESULT'
}

echo "| mode | rate (req/s) | direct p50 / p99 (ms) | via Tollgate p50 / p99 (ms) | added p50 / p99 (ms) | achieved rps | errors |"
echo "|---|---|---|---|---|---|---|"
for mode in plain stream; do
    run "$sim_url" "$mode" 50 2 >/dev/null; run "http://127.0.0.1:$proxy_port" "$mode" 50 2 >/dev/null   # warm up
    for rate in $RATES; do
        direct=$(run "$sim_url" "$mode" "$rate" "$CONNS")
        proxied=$(run "http://127.0.0.1:$proxy_port" "$mode" "$rate" "$CONNS")
        add50=$(python3 -c "print(f'{$(field "$proxied" p50_ms) - $(field "$direct" p50_ms):.3f}')")
        add99=$(python3 -c "print(f'{$(field "$proxied" p99_ms) - $(field "$direct" p99_ms):.3f}')")
        echo "| $mode | $rate | $(field "$direct" p50_ms) / $(field "$direct" p99_ms) | $(field "$proxied" p50_ms) / $(field "$proxied" p99_ms) | $add50 / $add99 | $(field "$proxied" rps) | $(field "$proxied" errors) |"
    done
done
echo
echo "| mode | unpaced, $MAX_CONNS connections | requests/s | p50 (ms) | p99 (ms) | errors |"
echo "|---|---|---|---|---|---|"
for mode in plain stream; do
    for target in direct proxied; do
        url=$sim_url; [ $target = proxied ] && url="http://127.0.0.1:$proxy_port"
        result=$(run "$url" "$mode" 0 "$MAX_CONNS")
        echo "| $mode | $target | $(field "$result" rps) | $(field "$result" p50_ms) | $(field "$result" p99_ms) | $(field "$result" errors) |"
    done
done
events=$(sqlite3 "$work/bench.db" "select count(*) from events" 2>/dev/null || echo "?")
echo
echo "events metered during the run: $events"
