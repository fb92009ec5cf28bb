#!/usr/bin/env bash
# A throw-away ClickHouse server on loopback, for tests and the demo.
#
#   local-server.sh install                      install Debian's clickhouse-server if missing
#   local-server.sh start DIR HTTP_PORT TCP_PORT  config and data in DIR; returns when it answers
#                                                 (DIR/extra.xml, if present, is added to the
#                                                 config: cluster settings, see cluster/)
#   local-server.sh stop DIR                      stop it (the data stays in DIR)
#
# Debian's package service does not start here, so the server is started by
# hand with its own config.xml and users.xml (LowCardinality allowed, a
# read-only `reader` user for the console, and `guarded`, whose password,
# `pastmon-test-secret`, the tests of `password_file` use).
set -euo pipefail

cmd=${1:-}
case "$cmd" in
install)
    if ! command -v /usr/sbin/clickhouse-server >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
    fi
    ;;
start)
    dir=$(realpath -m "$2"); http=$3; tcp=$4
    mkdir -p "$dir/data" "$dir/tmp" "$dir/log"
    cat >"$dir/users.xml" <<XML
<yandex>
  <profiles>
    <default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default>
    <readonly><readonly>2</readonly></readonly>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <reader><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>readonly</profile><quota>default</quota></reader>
    <guarded><password_sha256_hex>2c7b11e24aa199d6396dc05a3c3a2e5a017c6666a78f9e79ade73e3804489f52</password_sha256_hex><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></guarded>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML
    cat >"$dir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <users_config>$dir/users.xml</users_config>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
$(cat "$dir/extra.xml" 2>/dev/null || true)
</yandex>
XML
    /usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$http/ping" >/dev/null 2>&1; then exit 0; fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "clickhouse-server exited; see $dir/log" >&2; exit 1
        fi
        sleep 0.1
    done
    echo "clickhouse-server did not answer on port $http within 10 s; see $dir/log" >&2
    exit 1
    ;;
stop)
    dir=$(realpath -m "$2")
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    ;;
*)
    echo "usage: $0 install | start DIR HTTP_PORT TCP_PORT | stop DIR" >&2
    exit 2
    ;;
esac
