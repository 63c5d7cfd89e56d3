#!/usr/bin/env bash
# Events/s and admissions/s with the meter in SQLite (one replica) and in PostgreSQL (one and three replicas), on one
# machine: the figures of docs/SCALING.md (docs in bench/README.md).
#
# A throwaway PostgreSQL (.ci/postgres), the bundled simulator as the upstream (no pacing), release builds. For each
# setup, wrk drives the replicas at once (CONNS connections spread over them) for DURATION: first for a customer
# without credits or limits (one event per request: events/s), then for a prepaid customer (one admission and one
# settlement per request: admissions/s). Strict durability: each response waits for its event's commit.
#
#   apt-get install -y wrk postgresql && bash bench/replicas.sh
#   DURATION=10s CONNS=48 bash bench/replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
CONNS=${CONNS:-32}
# shellcheck source=bench/common.sh
source bench/common.sh
[ "${SKIP_BUILD:-}" = 1 ] || build_release >&2
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/tollgate-replicas.XXXXXX)
pg_dir=$(mktemp -d /tmp/tollgate-replicas-pg.XXXXXX)
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    bash .ci/postgres stop "$pg_dir" >/dev/null 2>&1 || true
    [ -n "${KEEP:-}" ] && { echo "kept $work"; return; }
    rm -rf "$work"
}
trap cleanup EXIT

pg_url=$(bash .ci/postgres start "$pg_dir" 2>"$work/postgres.err")
start_simulator
write_bodies

# Starts $2 replicas on the meter settings $1; sets ports.
start_replicas() {
    local meter=$1 count=$2 index port
    ports=()
    for index in $(seq "$count"); do
        port=$(free_port)
        cat > "$work/replica-$index.yaml" <<YAML
listen: "127.0.0.1:$port"
meter: {$meter, durability: strict}
providers:
  openai: {base_url: "$sim_url", api_key: "sk-bench"}
YAML
        "$BIN/tollgate" serve --config "$work/replica-$index.yaml" > "$work/replica-$index.out" 2> "$work/replica-$index.err" &
        replica_pids+=($!)
        pids+=($!)
        for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
        ports+=("$port")
    done
}

stop_replicas() {
    kill "${replica_pids[@]}" 2>/dev/null || true
    wait "${replica_pids[@]}" 2>/dev/null || true
    replica_pids=()
}

# wrk on every replica at once, CONNS connections in all; prints the summed requests/s and errors.
drive() {
    local key=$1 count=${#ports[@]} per index wrk_pids=()
    per=$(( (CONNS + count - 1) / count ))
    for index in "${!ports[@]}"; do
        KEY=$key BODY_FILE="$work/plain.json" CONNS=$per wrk -t1 -c"$per" -d"$DURATION" -s bench/wrk/inference.lua \
            "http://127.0.0.1:${ports[$index]}/v1/chat/completions" > "$work/wrk-$index.out" 2>&1 &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    local rps=0 errors=0 line
    for index in "${!ports[@]}"; do
        line=$(grep RESULT "$work/wrk-$index.out")
        rps=$(python3 -c "print($rps + $(field "$line" rps))")
        errors=$((errors + $(field "$line" errors)))
    done
    echo "$rps $errors"
}

replica_pids=()
printf '%-26s %12s %16s %8s\n' "meter" "events/s" "admissions/s" "errors"
for setup in "sqlite 1" "postgres 1" "postgres 3"; do
    read -r kind count <<< "$setup"
    if [ "$kind" = sqlite ]; then
        meter="path: \"$work/meter-$count.db\""
    else
        meter="url: \"$pg_url?schema=bench_$count\", pool_size: 8"
    fi
    start_replicas "$meter" "$count"
    free_key=$("$BIN/tollgate" keys create --customer free --config "$work/replica-1.yaml" | tail -1)
    paid_key=$("$BIN/tollgate" keys create --customer paid --config "$work/replica-1.yaml" | tail -1)
    "$BIN/tollgate" credits grant --customer paid --amount 1000000 --config "$work/replica-1.yaml" >/dev/null
    sleep 1.2   # a replica on PostgreSQL keeps a key's principal for a second
    read -r events events_errors <<< "$(drive "$free_key")"
    read -r admissions admission_errors <<< "$(drive "$paid_key")"
    printf '%-26s %12.0f %16.0f %8d\n' "$kind × $count" "$events" "$admissions" "$((events_errors + admission_errors))"
    stop_replicas
done
