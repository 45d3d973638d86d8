#!/usr/bin/env bash
# Runs every fault test (the tests whose name starts with fault_: faults injected into real
# scheduler, broker and ZooKeeper processes) and summarises them from the line each prints:
#   FAULT <name>: injected=<what> recovered_in=<ms> lost=<n>
# Starts its own ZooKeeper (.ci/zookeeper.sh) unless KAFKA_MESOS_TEST_ZK names one.
# Usage: bash scripts/fault-suite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0

pid=""
work=$(mktemp -d)
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "${KAFKA_MESOS_TEST_ZK:-}" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pid=$(.ci/zookeeper.sh "$port" "$work/zookeeper")
  export KAFKA_MESOS_TEST_ZK="127.0.0.1:$port"
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# One test at a time (--no-capture): the faults are timed, and the summary lines are printed.
status=0
cargo nextest run --workspace --run-ignored all --no-fail-fast --no-capture \
  -E 'test(/(^|::)fault_/)' 2>&1 | tee "$work/out" | grep -E '^FAULT |^ +(PASS|FAIL) ' || true
grep -qE '^ +FAIL ' "$work/out" && status=1
grep -qE '^error: ' "$work/out" && status=1

printf '\n== fault suite summary\n'
grep '^FAULT ' "$work/out" | awk '
  { n++; for (i = 1; i <= NF; i++) {
      if ($i ~ /^recovered_in=/) { split($i, a, "="); t = a[2] + 0; total += t; if (t > max) max = t }
      if ($i ~ /^lost=/) { split($i, b, "="); lost += b[2] } } }
  END { printf "faults injected: %d, recovered: %d, longest recovery: %d ms, total recovery: %d ms, lost: %d\n", n, n, max, total, lost }'
passed=$(grep -cE '^ +PASS ' "$work/out" || true)
failed=$(grep -cE '^ +FAIL ' "$work/out" || true)
echo "tests: $passed passed, $failed failed"
exit $status
