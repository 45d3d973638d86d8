#!/usr/bin/env bash
# Kafka on Mesos on this machine, from nothing but Rust:
#   1. installs what is missing (the tansu Kafka-compatible broker, kcat with a current
#      librdkafka) and builds kafka-mesos;
#   2. starts `kafka-mesos scheduler --master local` (an embedded Mesos master with three agents
#      on racks r0, r1, r2) with its state in a file, in the background;
#   3. adds three brokers, one per agent, starts them, creates a topic, produces a message to one
#      broker's reported endpoint with kcat and consumes it back;
#   4. prints the brokers and leaves the cluster running, with the commands to go on by hand and
#      to stop it.
# Usage: scripts/quickstart.sh [WORKDIR]   (default: ./quickstart; the API on port 7000, or
# $KM_PORT)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$PWD/quickstart}"
port="${KM_PORT:-7000}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
say() { printf '\n== %s\n' "$*"; }

say "tools"
tools="$(bash "$repo/scripts/install-tools.sh")"
echo "tansu and librdkafka in $tools"
kcat() { LD_LIBRARY_PATH="$tools" command kcat "$@"; }

say "build"
cargo build --release -q -p kafka_mesos_bin --manifest-path "$repo/Cargo.toml"
km="$repo/target/release/kafka-mesos"
"$km" --version

say "scheduler"
api="http://127.0.0.1:$port"
if [ -f "$work/scheduler.pid" ] && kill -0 "$(cat "$work/scheduler.pid")" 2>/dev/null; then
  echo "a scheduler from an earlier run is still running (pid $(cat "$work/scheduler.pid")); stop it first:"
  echo "  kill $(cat "$work/scheduler.pid")"
  exit 1
fi
cat > "$work/kafka-mesos.properties" <<EOF
master=local
api=$api
storage=file:kafka-mesos.json
broker-runtime=tansu
tansu-bin=$tools/tansu
EOF
(cd "$work" && { nohup "$km" scheduler > scheduler.log 2>&1 & echo $! > scheduler.pid; })
for _ in $(seq 1 100); do
  curl -sf "$api/health" >/dev/null 2>&1 && break
  kill -0 "$(cat "$work/scheduler.pid")" 2>/dev/null || { tail -20 "$work/scheduler.log"; exit 1; }
  sleep 0.1
done
echo "scheduler pid $(cat "$work/scheduler.pid"), API $api, log $work/scheduler.log"
export KM_API="$api"

say "brokers"
"$km" broker add 0..2 --cpus 0.5 --mem 512 --heap 256 --constraints hostname=unique
"$km" broker start 0..2 --timeout 2m
endpoint="$("$km" broker list 1 | awk '/endpoint:/ {print $2; exit}')"

say "a topic, a message produced to broker 1 at $endpoint, and consumed back"
"$km" topic add quickstart --broker 1
echo "hello from kafka-mesos" | kcat -P -b "$endpoint" -t quickstart -p 0
got="$(kcat -C -b "$endpoint" -t quickstart -p 0 -o beginning -e -q)"
echo "consumed: $got"
[ "$got" = "hello from kafka-mesos" ]

say "the cluster"
"$km" broker list

cat <<EOF

The cluster keeps running. Go on by hand from $work:
  cd $work
  $km broker list                      # or ./kafka-mesos.sh from the repository
  $km broker stop 2 ; $km broker start 2
  $km topic list
  echo hi | LD_LIBRARY_PATH=$tools kcat -P -b $endpoint -t quickstart -p 0
Stop it (the brokers stop with it; the state stays in $work/kafka-mesos.json):
  kill \$(cat $work/scheduler.pid)
EOF
