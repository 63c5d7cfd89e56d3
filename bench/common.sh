# Shared by the load benchmarks (source it after `cd` to the repository): the release build, a free port, the
# simulator upstream, the request bodies, and reading wrk's RESULT line.
SCRATCH=${SCRATCH:-.build-release}
BIN="$SCRATCH/release"

# Builds tollgate and tollgate-sim in release mode. Always: an incremental build is quick, and a stale binary would
# measure old code (or refuse new config keys).
build_release() {
    command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
    swift build -c release --scratch-path "$SCRATCH" --product tollgate
    swift build -c release --scratch-path "$SCRATCH" --product tollgate-sim
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the simulator in $work with no pacing (plain answers at once; streams at 0 ms per token), so that the proxy's
# cost stands out; sets sim_url and adds its pid to pids.
start_simulator() {
    "$BIN/tollgate-sim" --port 0 --token-delay-ms 0 --no-compress > "$work/sim.out" 2> "$work/sim.err" &
    pids+=($!)
    for _ in $(seq 50); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
    sim_url=$(grep -o 'http://[^ ]*' "$work/sim.out" | head -1)
}

# The chat completion bodies of the runs: $work/plain.json and $work/stream.json.
write_bodies() {
    cat > "$work/plain.json" <<'JSON'
{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in a few words please"}]}
JSON
    cat > "$work/stream.json" <<'JSON'
{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in a few words please"}]}
JSON
}

# Sets recorded_stream to the recorded OpenAI chat stream, to its last byte: `$(cat …)` alone drops the closing blank
# line, and with it the end of the terminal event.
read_recorded_stream() {
    recorded_stream=$(cat Tests/TollgateCoreTests/Fixtures/recorded/openai-chat-stream-include-usage/response.body; echo .)
    recorded_stream=${recorded_stream%.}
}

# A field of wrk's RESULT line (bench/wrk/inference.lua): field "$result" p50_ms.
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
