#!/usr/bin/env bash
# A throw-away two-shard ClickHouse cluster on loopback: one ZooKeeper
# (Debian's zookeeper) and two servers started with ../local-server.sh.
#
#   local-cluster.sh install
#   local-cluster.sh start DIR ZK_PORT HTTP1 TCP1 INTERSERVER1 HTTP2 TCP2 INTERSERVER2
#   local-cluster.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

case "${1:-}" in
install)
    "$here/../local-server.sh" install
    if [ ! -f /usr/share/java/zookeeper.jar ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq zookeeper >/dev/null
    fi
    ;;
start)
    dir=$(realpath -m "$2"); zk=$3
    if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
        echo "ZooKeeper is missing: Debian package zookeeper (local-cluster.sh install)" >&2; exit 1
    fi
    mkdir -p "$dir/zk/data"
    sed -e "s|@DIR@|$dir/zk|; s|@ZK_PORT@|$zk|" "$here/zoo.cfg.template" >"$dir/zk/zoo.cfg"
    java -cp "$dir/zk:/usr/share/java/zookeeper.jar" -Dzookeeper.log.dir="$dir/zk" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zk/zoo.cfg" >"$dir/zk/out.log" 2>&1 &
    echo $! >"$dir/zk/pid"
    # Ready when it reports its mode (answering ruok is not enough).
    ready=
    for _ in $(seq 1 150); do
        if echo srvr | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$zk; cat >&3; cat <&3" 2>/dev/null | grep -q Mode:; then
            ready=1; break
        fi
        sleep 0.2
    done
    if [ -z "$ready" ]; then
        echo "ZooKeeper did not come up on port $zk; see $dir/zk/out.log" >&2; exit 1
    fi
    for n in 1 2; do
        if [ $n = 1 ]; then http=$4 tcp=$5 is=$6; else http=$7 tcp=$8 is=$9; fi
        mkdir -p "$dir/node$n"
        sed -e "s|@ZK_PORT@|$zk|; s|@SHARD@|0$n|; s|@REPLICA@|node$n|; s|@INTERSERVER_PORT@|$is|; s|@NODE1_TCP@|$5|; s|@NODE2_TCP@|$8|" \
            "$here/node.xml.template" >"$dir/node$n/extra.xml"
        "$here/../local-server.sh" start "$dir/node$n" "$http" "$tcp"
    done
    ;;
stop)
    dir=$(realpath -m "$2")
    for n in 1 2; do "$here/../local-server.sh" stop "$dir/node$n"; done
    if [ -f "$dir/zk/pid" ]; then kill "$(cat "$dir/zk/pid")" 2>/dev/null || true; rm -f "$dir/zk/pid"; fi
    ;;
*)
    echo "usage: $0 install | start DIR ZK_PORT HTTP1 TCP1 INTERSERVER1 HTTP2 TCP2 INTERSERVER2 | stop DIR" >&2
    exit 2
    ;;
esac
