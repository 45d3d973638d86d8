#!/usr/bin/env bash
# The fault suite: every test named fault_* in the workspace (broker process crash, executor
# crash, agent loss, master restart with re-subscription and reconciliation, scheduler kill -9
# at random points, and the ZooKeeper faults of the high-availability tests), run on real
# processes against the embedded master, then a table of what each injected, how long the
# recovery took and what was lost (must be nothing).
#
# The ZooKeeper tests need a ZooKeeper: the one named by KAFKA_MESOS_TEST_ZK (host:port), else
# one started here with .ci/zookeeper.sh (Debian's zookeeper package) and stopped at the end;
# without either they are left out and the table says so.
#
# Usage: scripts/fault-suite.sh [NEXTEST ARGS...]
#   KAFKA_MESOS_FAULT_SEED=N   replays the scheduler kill -9 rounds of an earlier run
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

work="$(mktemp -d "${TMPDIR:-/tmp}/kafka-mesos-faults.XXXXXX")"
zk_pid=""
cleanup() {
  if [ -n "$zk_pid" ]; then kill "$zk_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Tests whose own name starts with fault_ (not default_...).
filter='test(/(^|::)fault_/)'
if [ -z "${KAFKA_MESOS_TEST_ZK:-}" ]; then
  if command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    zk_pid=$(bash .ci/zookeeper.sh "$port" "$work/zookeeper")
    export KAFKA_MESOS_TEST_ZK="127.0.0.1:$port"
    echo "ZooKeeper on $KAFKA_MESOS_TEST_ZK (pid $zk_pid)"
  else
    echo "no KAFKA_MESOS_TEST_ZK and no ZooKeeper to start: the ZooKeeper faults are left out"
    filter="$filter and not binary(ha_zk)"
  fi
fi

started=$(date +%s)
status=0
cargo nextest run --workspace --run-ignored all -E "$filter" --no-fail-fast --no-capture "$@" \
  2>&1 | tee "$work/output.log" || status=$?
elapsed=$(( $(date +%s) - started ))

echo
echo "== fault suite summary (${elapsed}s)"
# Every fault test prints its FAULT line (the run does not capture output).
grep -h '^FAULT ' "$work/output.log" > "$work/faults.log" || true
if [ ! -s "$work/faults.log" ]; then
  echo "no FAULT lines were printed"
  exit 1
fi
# FAULT <name>: injected=<what> recovered_in=<ms> lost=<n>
awk '
  BEGIN { printf "%-26s %12s %6s  %s\n", "fault", "recovered_in", "lost", "injected"; lost = 0; n = 0 }
  /^FAULT / {
    name = $2; sub(/:$/, "", name)
    line = $0
    sub(/^[^:]*: injected=/, "", line)
    injected = line; sub(/ recovered_in=.*$/, "", injected)
    rec = line; sub(/^.* recovered_in=/, "", rec); sub(/ .*$/, "", rec)
    l = line; sub(/^.* lost=/, "", l)
    printf "%-26s %10s ms %6s  %s\n", name, rec, l, injected
    lost += l; n++
  }
  END { printf "%d fault(s) injected, %d lost\n", n, lost; exit (lost > 0) }
' "$work/faults.log" || status=1
grep -E '^( *Summary|error: test run failed)' "$work/output.log" || true
exit "$status"
