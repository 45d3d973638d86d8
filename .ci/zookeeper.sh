#!/usr/bin/env bash
# Starts a standalone ZooKeeper (Debian's package) on 127.0.0.1:PORT with its data in DIR and
# waits until it serves. Prints the PID. Usage: .ci/zookeeper.sh PORT DIR
set -euo pipefail
port=${1:?usage: zookeeper.sh PORT DIR}
dir=${2:?usage: zookeeper.sh PORT DIR}
mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
cat > "$dir/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,conf,isro
CFG
cp=/usr/share/java/zookeeper.jar
for jar in zookeeper-jute slf4j-api slf4j-simple; do
  [ -f "/usr/share/java/$jar.jar" ] && cp="$cp:/usr/share/java/$jar.jar"
done
nohup java -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" > "$dir/zookeeper.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if echo srvr | nc -w 1 127.0.0.1 "$port" 2>/dev/null | grep -q '^Mode:'; then
    echo "$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$dir/zookeeper.log" >&2; exit 1; }
  sleep 0.1
done
echo "ZooKeeper did not start on port $port" >&2
cat "$dir/zookeeper.log" >&2
exit 1
