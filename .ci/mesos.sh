#!/usr/bin/env bash
# Starts a real Apache Mesos 1.11 master with AGENTS agents in one process (from
# ../shared/tools/mesos-1.11) on 127.0.0.1:PORT and waits until the agents are active.
# Prints the PID. Usage: .ci/mesos.sh PORT WORKDIR [AGENTS]
set -euo pipefail
port=${1:?usage: mesos.sh PORT WORKDIR [AGENTS]}
work=${2:?usage: mesos.sh PORT WORKDIR [AGENTS]}
agents=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/../shared/tools/mesos-1.11"
[ -d "$tools" ] || { echo "no $tools" >&2; exit 1; }
# The archive's libmesos links libsvn; the setup builds shims for the rest.
if ! ldconfig -p | grep -q libsvn_delta-1.so.1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsvn1 >/dev/null
fi
build="${XDG_CACHE_HOME:-$HOME/.cache}/kafka-mesos/mesos-1.11"
[ -x "$build/mesos_local" ] || "$tools/setup.sh" "$build" >&2
mkdir -p "$work"
# The agents' helpers: the archive's containerizer stand-in, and a fetcher (the archive has none)
# so that tasks can fetch CommandInfo.uris, as the kafka-mesos executor is.
launcher="$work/libexec"
mkdir -p "$launcher"
ln -sf "$build/libexec/mesos-containerizer" "$launcher/mesos-containerizer"
ln -sf "$root/.ci/mesos-fetcher" "$launcher/mesos-fetcher"
MESOS_LAUNCHER_DIR="$launcher" nohup "$build/run_mesos.sh" "$port" "$work" "$agents" > "$work/mesos.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if curl -sf "http://127.0.0.1:$port/master/state" 2>/dev/null | grep -q "\"activated_slaves\":$agents"; then
    echo "$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { tail -20 "$work/mesos.log" >&2; exit 1; }
  sleep 0.2
done
echo "Mesos did not start on port $port" >&2
tail -20 "$work/mesos.log" >&2
exit 1
