#!/usr/bin/env bash
# Runs kafka-mesos built from this repository, so that the README's commands work as written:
#   ./kafka-mesos.sh broker add 0
#   ./kafka-mesos.sh help scheduler
# Uses the newest of the release and debug builds; builds the release binary when neither
# exists. Runs in the caller's directory (kafka-mesos.properties is read from there).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
case "$target" in /*) ;; *) target="$here/$target" ;; esac
release="$target/release/kafka-mesos"
debug="$target/debug/kafka-mesos"

bin=""
if [ -x "$release" ] && { [ ! -x "$debug" ] || [ "$release" -nt "$debug" ]; }; then
    bin="$release"
elif [ -x "$debug" ]; then
    bin="$debug"
else
    echo "building kafka-mesos (cargo build --release)..." >&2
    cargo build -q --release -p kafka_mesos_bin --manifest-path "$here/Cargo.toml" >&2
    bin="$release"
fi
exec "$bin" "$@"
