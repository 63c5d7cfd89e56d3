#!/usr/bin/env bash
# Report benchmark: a meter with EVENTS synthetic events over 2026-11 (bench/gen_events.py), its rollups rebuilt by
# `tollgate report rebuild` (the backfill speed), then whole-command times of `tollgate report margin` queries,
# the meter's size on disk and an exactness check of the report against a Decimal sum over the events. Prints Markdown.
#   bash bench/report.sh                          # 10,000,000 events (~8 GB free disk, ~10 min of generation)
#   EVENTS=1000000 RUNS=5 bash bench/report.sh
#   WORK=/tmp/report-bench bash bench/report.sh   # keep the meter there; a later run with the same EVENTS reuses it
#   BUILD=0 bash bench/report.sh                  # measure the release binary already built
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-10}
SCRATCH=${SCRATCH:-.build-release}
BIN="$SCRATCH/release/tollgate"

# Build unless told not to (BUILD=0 measures the binary already in $SCRATCH): a stale binary would measure old code.
[ "${BUILD:-1}" = 0 ] || swift build -c release --scratch-path "$SCRATCH" --product tollgate >&2

if [ -n "${WORK:-}" ]; then
    work=$WORK
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/tollgate-report-bench.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
meter="$work/meter.db"
config="$work/tollgate.yaml"
printf 'meter: {path: %s}\nlog_level: warning\n' "$meter" > "$config"

need_kb=$((EVENTS * 7 / 10))   # ~500 bytes per event with indexes and rollups, and a margin
free_kb=$(df -Pk "$work" | awk 'NR == 2 {print $4}')
[ "$free_kb" -gt "$need_kb" ] || { echo "not enough disk in $work: $((free_kb / 1000)) MB free, ~$((need_kb / 1000)) MB needed" >&2; exit 1; }

echo "## Report benchmark: $(python3 -c "print(f'{$EVENTS:,}')") events"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GB RAM," \
    "release build, Swift $(swift --version 2>/dev/null | grep -o 'Swift version [0-9.]*' | cut -d' ' -f3), SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"
echo

existing=$( [ -f "$meter" ] && python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])" "$meter" 2>/dev/null || echo 0)
if [ "$existing" = "$EVENTS" ]; then
    echo "reusing the meter in $work ($EVENTS events; generation and rebuild not measured this time)"
else
    rm -f "$meter" "$meter-wal" "$meter-shm"
    "$BIN" report margin --config "$config" --period 2026-11 > /dev/null   # creates and migrates the meter
    python3 bench/gen_events.py --meter "$meter" --events "$EVENTS"
    rebuilt=$( { /usr/bin/time -f "%e s wall, %M KB peak RSS" "$BIN" report rebuild --config "$config"; } 2>&1 )
    echo "rollup backfill (\`tollgate report rebuild\`): $(echo "$rebuilt" | tr '\n' ' ')"
fi
echo
python3 bench/report_check.py size --meter "$meter"
echo
python3 bench/report_check.py times --bin "$BIN" --config "$config" --meter "$meter" --runs "$RUNS" --slow
echo
python3 bench/report_check.py plan --meter "$meter"
echo
python3 bench/report_check.py exact --bin "$BIN" --config "$config" --meter "$meter"
