#!/usr/bin/env bash
# A small network with a mirror (SPAN) port, built from network namespaces:
#
#   NAME-c (client 10.N.0.1) ── bridge in NAME-sw ── NAME-s (servers 10.N.0.2, 10.N.0.3)
#                                     │        └───── NAME-b (backend 10.N.0.4)
#                                     │ tc mirred: everything to and from NAME-s
#                                     ▼
#                         NAME-mon0 ══ NAME-mon1 in NAME-mon (the sensor's monitor port,
#                                                  QUEUES rx queues)
#
# nginx (Debian nginx-light + libnginx-mod-http-echo) listens on both server
# addresses, port 80, with endpoints of known delays:
#   /delay10   answers after 10 ms        /delay200  answers after 200 ms
#   /stream    first byte at once, last byte 200 ms later
#   /fail      500 at once                /          a small page
#   /big.bin   2 MiB at once (for bandwidth-bound and slow-reading clients)
#   /app       proxied to the backend's /delay200 (a front with a slow backend)
# A second nginx, the backend, serves the same endpoints on 10.N.0.4; the
# servers' calls to it cross the mirrored port.
#
# Usage: lab.sh up NAME N [QUEUES [MONITOR]]   (N: 1..250, picks 10.N.0.0/24)
#        MONITOR: "ns" (default) puts NAME-mon1 in namespace NAME-mon; "root"
#        leaves it in the caller's namespace (a sensor that must reach
#        services on the host's loopback, such as a test ClickHouse).
#        lab.sh tunnel NAME N KIND   (KIND: vxlan, erspan2, gretap, plain)
#            the mirror port delivers the copies tunnelled, as a remote SPAN:
#            from 10.N.9.1 (NAME-mon0) to 10.N.9.2 (NAME-mon1, in namespace
#            NAME-mon) through a vxlan device (VNI 42, port 4789), or
#            tunnel_relay.py (ERSPAN II session 7; GRE key 5 with bridged
#            Ethernet: this kernel has no gretap or erspan device); "plain"
#            puts the plain mirror back
#        lab.sh down NAME
#        lab.sh install              (the Debian packages it needs)
#        lab.sh packages             (their names, one a line)
# The access log, /run/pastmon-lab-NAME/access.log, has one line per request:
# SERVER_ADDRESS URI STATUS SECONDS.
# Needs root. `up` removes leftovers of an earlier run of the same NAME first.
set -euo pipefail

cmd=${1:?usage: lab.sh up NAME N [QUEUES] | down NAME | install}

down() {
    local name=$1
    for pid in /run/pastmon-lab-$name/nginx.pid /run/pastmon-lab-$name/backend.pid /run/pastmon-lab-$name/relay.pid; do
        if [[ -f $pid ]]; then
            kill "$(cat "$pid")" 2>/dev/null || true
        fi
    done
    for ns in c s b sw mon; do
        ip netns del "$name-$ns" 2>/dev/null || true
    done
    # A monitor veth left in the caller's namespace goes with its peer; wait
    # for the kernel to finish removing it.
    for _ in $(seq 20); do
        ip link show "$name-mon1" >/dev/null 2>&1 || break
        sleep 0.1
    done
    rm -rf "/run/pastmon-lab-$name"
}

# The lab, and the servers and clients of sensor/tests/live_servers.rs.
packages=(iproute2 ethtool nginx-light libnginx-mod-http-echo curl wrk tcpdump openssl
    redis-server redis-tools postgresql postgresql-client mariadb-server mariadb-client ngircd python3
    python3-aiosmtpd dovecot-imapd dovecot-pop3d vsftpd h2o nghttp2-client python3-grpcio memcached libmemcached-tools mosquitto mosquitto-clients rabbitmq-server python3-pika)

case $cmd in
packages)
    printf '%s\n' "${packages[@]}"
    ;;
install)
    need=()
    for pkg in "${packages[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if ((${#need[@]})); then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
    # Debian starts the packaged servers on the host; the tests run their own.
    for service in nginx redis-server postgresql mariadb ngircd dovecot vsftpd h2o memcached mosquitto rabbitmq-server; do
        systemctl disable --now "$service" >/dev/null 2>&1 || true
    done
    ;;
down)
    down "${2:?NAME}"
    ;;
tunnel)
    name=${2:?NAME}
    n=${3:?N}
    kind=${4:?KIND}
    dir=/run/pastmon-lab-$name
    sw() { ip netns exec "$name-sw" "$@"; }
    if [[ -f $dir/relay.pid ]]; then
        kill "$(cat "$dir/relay.pid")" 2>/dev/null || true
        rm -f "$dir/relay.pid"
    fi
    sw ip link del "$name-vx" 2>/dev/null || true
    sw ip link del "$name-rl0" 2>/dev/null || true
    target=$name-mon0
    if [[ $kind != plain ]]; then
        # The underlay: room for a full frame and its tunnel headers (native
        # XDP on veth takes up to a page), the sensor's end known by address.
        sw ip link set "$name-mon0" mtu 1600
        ip -n "$name-mon" link set "$name-mon1" mtu 1600
        sw ip addr replace "10.$n.9.1/24" dev "$name-mon0"
        mac=$(ip netns exec "$name-mon" cat "/sys/class/net/$name-mon1/address")
        sw ip neigh replace "10.$n.9.2" lladdr "$mac" dev "$name-mon0" nud permanent
    fi
    case $kind in
    plain) ;;
    vxlan)
        sw ip link add "$name-vx" mtu 1500 type vxlan id 42 local "10.$n.9.1" remote "10.$n.9.2" \
            dstport 4789 dev "$name-mon0"
        sw ip link set "$name-vx" up
        target=$name-vx
        ;;
    erspan2 | gretap)
        sw ip link add "$name-rl0" type veth peer name "$name-rl1"
        for dev in rl0 rl1; do
            sw ethtool -K "$name-$dev" tso off gso off gro off >/dev/null 2>&1 || true
            sw ip link set "$name-$dev" up
        done
        sw python3 "$(dirname "$0")/tunnel_relay.py" "$kind" "$name-rl1" "$name-mon0" "10.$n.9.1" "10.$n.9.2" "$mac" \
            >"$dir/relay.log" 2>&1 &
        echo $! >"$dir/relay.pid"
        for _ in $(seq 50); do
            grep -q "relay up" "$dir/relay.log" && break
            sleep 0.1
        done
        target=$name-rl0
        ;;
    *)
        echo "lab.sh tunnel: KIND is vxlan, erspan2, gretap or plain, not $kind" >&2
        exit 2
        ;;
    esac
    for dir_ in ingress egress; do
        sw tc filter del dev "$name-sws" "$dir_"
        sw tc filter add dev "$name-sws" "$dir_" protocol all u32 match u32 0 0 action mirred egress mirror dev "$target"
    done
    ;;
up)
    name=${2:?NAME}
    n=${3:?N}
    queues=${4:-2}
    monitor=${5:-ns}
    down "$name"
    dir=/run/pastmon-lab-$name
    mkdir -p "$dir/tmp" "$dir/html"
    for ns in c s b sw mon; do
        ip netns add "$name-$ns"
        ip -n "$name-$ns" link set lo up
    done
    ip link add "$name-c0" netns "$name-c" type veth peer name "$name-swc" netns "$name-sw"
    ip link add "$name-s0" netns "$name-s" type veth peer name "$name-sws" netns "$name-sw"
    ip link add "$name-b0" netns "$name-b" type veth peer name "$name-swb" netns "$name-sw"
    ip link del "$name-mon1" 2>/dev/null || true
    ip link add "$name-mon0" netns "$name-sw" numtxqueues "$queues" numrxqueues "$queues" type veth \
        peer name "$name-mon1" numtxqueues "$queues" numrxqueues "$queues"
    if [[ $monitor == ns ]]; then
        ip link set "$name-mon1" netns "$name-mon"
    fi
    mon_ns() { if [[ $monitor == ns ]]; then ip netns exec "$name-mon" "$@"; else "$@"; fi; }
    ip -n "$name-sw" link add "$name-br" type bridge
    for dev in swc sws swb; do
        ip -n "$name-sw" link set "$name-$dev" master "$name-br"
    done
    ip -n "$name-c" addr add "10.$n.0.1/24" dev "$name-c0"
    ip -n "$name-s" addr add "10.$n.0.2/24" dev "$name-s0"
    ip -n "$name-s" addr add "10.$n.0.3/24" dev "$name-s0"
    ip -n "$name-b" addr add "10.$n.0.4/24" dev "$name-b0"
    # Wire-sized packets: no segmentation or receive offloads anywhere.
    for pair in c:c0 s:s0 b:b0 sw:swc sw:sws sw:swb sw:mon0; do
        ns=${pair%%:*} dev=$name-${pair#*:}
        ip netns exec "$name-$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
        ip -n "$name-$ns" link set "$dev" up
    done
    mon_ns ethtool -K "$name-mon1" tso off gso off gro off >/dev/null 2>&1 || true
    mon_ns ip link set "$name-mon1" up
    ip -n "$name-sw" link set "$name-br" up
    # The SPAN port: a copy of every frame to and from the servers.
    ip netns exec "$name-sw" tc qdisc add dev "$name-sws" clsact
    for dir_ in ingress egress; do
        ip netns exec "$name-sw" tc filter add dev "$name-sws" "$dir_" protocol all u32 match u32 0 0 \
            action mirred egress mirror dev "$name-mon0"
    done
    echo "<html><body>pastmon lab</body></html>" >"$dir/html/index.html"
    head -c 2097152 /dev/zero >"$dir/html/big.bin"
    # One configuration for both nginx: the listen addresses and pid differ.
    nginx_conf() {
        local listen=$1 pid=$2
        cat <<CONF
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
daemon on; worker_processes 1; pid $dir/$pid; error_log $dir/error.log;
events { worker_connections 1024; }
http {
    # One line per request: the server address, the URI and the status, to
    # count what the clients really asked of each server.
    log_format lab '\$server_addr \$request_uri \$status \$request_time';
    access_log $dir/access.log lab;
    client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
    keepalive_requests 100000;
    server {
        $listen
        root $dir/html;
        location = /delay10 { echo_sleep 0.01; echo "ok"; }
        location = /delay200 { echo_sleep 0.2; echo "ok"; }
        location = /stream { echo "first"; echo_flush; echo_sleep 0.2; echo "last"; }
        location = /fail { return 500; }
        location = /app { proxy_pass http://10.$n.0.4/delay200; }
    }
}
CONF
    }
    nginx_conf "listen 10.$n.0.2:80; listen 10.$n.0.3:80;" nginx.pid >"$dir/nginx.conf"
    nginx_conf "listen 10.$n.0.4:80;" backend.pid >"$dir/backend.conf"
    ip netns exec "$name-s" nginx -c "$dir/nginx.conf"
    ip netns exec "$name-b" nginx -c "$dir/backend.conf"
    # Wait until nginx answers.
    for _ in $(seq 50); do
        ip netns exec "$name-c" curl -s -o /dev/null "http://10.$n.0.2/" &&
            ip netns exec "$name-c" curl -s -o /dev/null "http://10.$n.0.4/" && break
        sleep 0.1
    done
    ;;
*)
    echo "usage: lab.sh up NAME N [QUEUES] | down NAME | install" >&2
    exit 2
    ;;
esac
