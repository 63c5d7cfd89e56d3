#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time: fuzz/run.sh [TARGET|all] [SECONDS]
#
#   fuzz/run.sh                         every target, 240 s each
#   fuzz/run.sh FuzzSSEFramer 600       one target, ten minutes
#   fuzz/run.sh all 20                  the short pass CI runs
#
# Each run first replays fuzz/regressions/TARGET/ (inputs that once crashed: each must pass), then fuzzes from the
# committed seeds in fuzz/corpus/TARGET/ plus what earlier local runs found (fuzz/.work/corpus/TARGET/, not
# committed). A crash stops the run, leaves the input in fuzz/.work/artifacts/ and makes the script exit non-zero.
# Environment: FUZZ_SKIP_BUILD=1 reuses the last build; FUZZ_JOBS=N runs N targets at a time (default 1).
set -euo pipefail
cd "$(dirname "$0")"
fuzz=$(pwd)
target=${1:-all}
seconds=${2:-240}
jobs=${FUZZ_JOBS:-1}

targets=(FuzzJSONScanner FuzzRequestBody FuzzSSEFramer FuzzEventStream FuzzGeminiSplitter FuzzNDJSON FuzzResponseReaders
    FuzzContentDecoders FuzzConfig)
if [ "$target" != all ]; then
    printf '%s\n' "${targets[@]}" | grep -qx "$target" || { echo "unknown target '$target' (known: ${targets[*]})" >&2; exit 2; }
    targets=("$target")
fi

# The longest input the fuzzer may write: recorded bodies reach 16 KB; a YAML file or a compressed stream need less.
max_len() {
    case "$1" in
        FuzzConfig | FuzzContentDecoders) echo 8192 ;;
        *) echo 16384 ;;
    esac
}

# libFuzzer's runtime ships with the Swift toolchain (clang's compiler-rt), next to the swift driver.
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
if ! compgen -G "$toolchain/lib/clang/*/lib/linux/libclang_rt.fuzzer-$(uname -m).a" >/dev/null; then
    echo "no libFuzzer runtime under $toolchain/lib/clang: a swift.org toolchain for Linux ships it" >&2
    exit 1
fi

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    echo "==> building the fuzz targets (release, -sanitize=fuzzer,address)"
    start=$(date +%s)
    swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing 2>&1 |
        grep -v "Cannot export local symbol '__asan_extra_spill_area'\|found 1 file(s) which are unhandled\|CMakeLists.txt" |
        grep -E "error|warning: unre|Build complete|Compiling|Linking" | grep -v "^\[" || true
    bin=$(swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing --show-bin-path)
    for t in "${targets[@]}"; do test -x "$bin/$t" || { echo "build failed: no $bin/$t" >&2; exit 1; }; done
    echo "built in $(($(date +%s) - start)) s"
fi
bin=${bin:-$(swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing --show-bin-path)}

# The Swift runtime's own crash reporter would symbolicate for half a minute; libFuzzer and ASan print the stack.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:symbolize=1}

run_one() {
    local t=$1 log="$fuzz/.work/logs/$1.log"
    mkdir -p "$fuzz/.work/corpus/$t" "$fuzz/.work/artifacts" "$fuzz/.work/logs"
    if compgen -G "$fuzz/regressions/$t/*" >/dev/null; then
        if ! "$bin/$t" -rss_limit_mb=2048 -timeout=10 "$fuzz/regressions/$t"/* >"$log.regressions" 2>&1; then
            echo "FAIL $t: a regression input crashes again (log: $log.regressions)"
            grep -m3 "invariant failed\|ERROR:" "$log.regressions" || true
            return 1
        fi
        echo "ok   $t: $(ls "$fuzz/regressions/$t" | wc -l) regression input(s) replayed"
    fi
    local status=0
    "$bin/$t" "$fuzz/.work/corpus/$t" "$fuzz/corpus/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$fuzz/.work/artifacts/$t-" >"$log" 2>&1 || status=$?
    local runs cov rate
    runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" || echo "?")
    rate=$(grep -o "stat::average_exec_per_sec: *[0-9]*" "$log" | grep -o "[0-9]*$" || echo "?")
    cov=$(grep -o "cov: [0-9]* ft: [0-9]*" "$log" | tail -1 || echo "?")
    if [ "$status" -ne 0 ]; then
        echo "FAIL $t: crash after ${runs} runs (log: $log; input: $(ls -t "$fuzz/.work/artifacts/$t-"* 2>/dev/null | head -1))"
        grep -m3 "invariant failed\|ERROR:\|SUMMARY" "$log" || true
        return 1
    fi
    echo "ok   $t: ${seconds} s, ${runs} runs, ${rate} exec/s, ${cov}"
}

failed=0
if [ "$jobs" -le 1 ]; then
    for t in "${targets[@]}"; do run_one "$t" || failed=1; done
else
    pids=()
    for t in "${targets[@]}"; do
        run_one "$t" &
        pids+=($!)
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
fi
if [ "$failed" -ne 0 ]; then
    echo "FUZZ FAILED"
    exit 1
fi
echo "FUZZ PASSED"
