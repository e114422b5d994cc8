#!/usr/bin/env bash
# Start (or stop) the real services clusterkit's integration tests and Docker examples use,
# all on loopback, as root:
#
#   engine 1   the machine's Docker engine on unix:///var/run/docker.sock (bridge docker0)
#   engine 2   a second engine: own data root, exec root, pid file, socket and bridge ckbr1
#              (172.31.250.1/24), on unix:///run/clusterkit-engine2.sock
#   registry   a private registry with htpasswd auth on 127.0.0.1:5000; its generated
#              credentials are written to /run/clusterkit-services/registry.json (mode 600)
#   image      clusterkit/busybox:latest on both engines, built from Debian's busybox-static
#              with `docker import`, and pushed to the registry as
#              127.0.0.1:5000/clusterkit/busybox:latest
#   etcd       a 3-member etcd cluster: member N (1..3) serves clients on
#              http://127.0.0.1:N2379 and its peers on http://127.0.0.1:N2380, data in
#              /var/lib/clusterkit-etcd/mN. etcd's defaults otherwise, --max-txn-ops 128
#              included: ClusterState.commit splits incremental commits to fit it, and
#              raising it to 1024 did not change etcd_placement beyond its noise
#              (docs/distributed.md)
#   haproxy    HAProxy 2.6, never reloaded: its runtime API on the admin-level stats socket
#              /run/clusterkit-services/haproxy.sock (mode 600) is how clusterkit.balancing
#              adds, drains and deletes servers. Frontends on loopback, each with its own
#              empty backend (servers come only through the runtime API):
#                127.0.0.1:18080 -> backend tests     127.0.0.1:18081 -> backend tests2
#                127.0.0.1:18082 -> backend example   127.0.0.1:18083 -> backend bench
#              Config /run/clusterkit-services/haproxy.cfg, pid haproxy.pid beside it, log
#              /tmp/clusterkit-services/haproxy.log. A packaged haproxy is stopped first: two
#              processes bound to one port would answer in turn.
#
# Needs the Debian packages docker.io, busybox-static, docker-registry, apache2-utils,
# iproute2, etcd-server and haproxy (.ci/run installs them).
#   engine N   (N = 3..254, on demand: engine-start N / engine-stop N) an extra engine as
#              engine 2 is, on unix:///run/clusterkit-engineN.sock with bridge ckbrN
#              (172.30.N.1/24) and the image loaded from engine 1; the Docker capacity
#              provider (clusterkit.autoscaling.DockerEngineProvider) starts and stops these
# Usage: scripts/services.sh start|stop|status
#        scripts/services.sh etcd-stop N | etcd-start N     (one etcd member, for fault tests)
#        scripts/services.sh engine-start N | engine-stop N (an extra engine, N >= 3)
#        scripts/services.sh haproxy-start | haproxy-stop   (HAProxy alone)
set -euo pipefail

# The daemons started here must not inherit the caller's open files: a test's lock held open
# by an etcd member would outlive the test (bash keeps 255 for reading this script).
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

RUN=/run/clusterkit-services
LOGS=/tmp/clusterkit-services
ENGINE2_SOCK=/run/clusterkit-engine2.sock
ENGINE2_BRIDGE=ckbr1
ENGINE2_CIDR=172.31.250.1/24
REGISTRY=127.0.0.1:5000
REGISTRY_USER=clusterkit
IMAGE=clusterkit/busybox:latest

log() { echo "services: $*" >&2; }

wait_for() {  # wait_for WHAT SECONDS COMMAND...
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "$what did not come up in ${seconds}s"
    return 1
}

start_engine1() {
    if docker info >/dev/null 2>&1; then log "engine 1 already running"; return; fi
    log "starting engine 1"
    nohup dockerd >"$LOGS/engine1.log" 2>&1 &
    wait_for "engine 1" 60 docker info || { tail -20 "$LOGS/engine1.log" >&2; return 1; }
}

start_engine() {  # start_engine N BRIDGE CIDR: engine N on its own socket, roots, pid file and bridge
    local n=$1 bridge=$2 cidr=$3
    local sock=/run/clusterkit-engine$n.sock
    if DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1; then log "engine $n already running"; return; fi
    log "starting engine $n on bridge $bridge"
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        ip link add "$bridge" type bridge
        ip addr add "$cidr" dev "$bridge"
    fi
    ip link set "$bridge" up
    # Never --bridge none: it would delete engine 1's docker0.
    nohup dockerd --data-root "/var/lib/clusterkit-engine$n" --exec-root "/run/clusterkit-engine$n" \
        --pidfile "/run/clusterkit-engine$n.pid" -H "unix://$sock" --bridge "$bridge" \
        >"$LOGS/engine$n.log" 2>&1 &
    wait_for "engine $n" 60 env DOCKER_HOST="unix://$sock" docker info \
        || { tail -20 "$LOGS/engine$n.log" >&2; return 1; }
}

start_engine2() {
    start_engine 2 "$ENGINE2_BRIDGE" "$ENGINE2_CIDR"
}

engine_number() {  # engine_number N: N if it is an extra engine's number (3..254), else fail
    case "$1" in
        '' | *[!0-9]*) log "engine number must be 3..254, not '$1'"; return 2 ;;
    esac
    if [ "$1" -lt 3 ] || [ "$1" -gt 254 ]; then log "engine number must be 3..254, not $1"; return 2; fi
}

engine_start() {  # engine_start N: extra engine N (bridge ckbrN, 172.30.N.1/24) with $IMAGE loaded
    local n=$1
    engine_number "$n"
    mkdir -p "$LOGS"
    start_engine "$n" "ckbr$n" "172.30.$n.1/24"
    if ! DOCKER_HOST="unix:///run/clusterkit-engine$n.sock" docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "loading $IMAGE into engine $n"
        docker save "$IMAGE" | DOCKER_HOST="unix:///run/clusterkit-engine$n.sock" docker load >/dev/null
    fi
}

engine_stop() {  # engine_stop N: stop extra engine N (its containers go with it) and remove its bridge
    local n=$1 pidfile=/run/clusterkit-engine$1.pid
    engine_number "$n"
    if [ -f "$pidfile" ]; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    rm -f "/run/clusterkit-engine$n.sock"
    if ip link show "ckbr$n" >/dev/null 2>&1; then ip link del "ckbr$n"; fi
    log "engine $n stopped"
}

start_registry() {
    if [ -s "$RUN/registry.json" ] && curl -sS -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/" 2>/dev/null | grep -q 401; then
        log "registry already running"
        return
    fi
    log "starting the private registry on $REGISTRY"
    pkill -x docker-registry 2>/dev/null || true  # one the package may have started with its own config
    local password
    password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    htpasswd -Bbn "$REGISTRY_USER" "$password" >"$RUN/htpasswd"
    umask 077
    printf '{"address": "%s", "username": "%s", "password": "%s"}\n' "$REGISTRY" "$REGISTRY_USER" "$password" \
        >"$RUN/registry.json"
    umask 022
    cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/clusterkit-registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
auth:
  htpasswd:
    realm: clusterkit
    path: $RUN/htpasswd
EOF
    nohup docker-registry serve "$RUN/registry.yml" >"$LOGS/registry.log" 2>&1 &
    wait_for "registry" 30 sh -c "curl -sS -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -q 401" \
        || { tail -20 "$LOGS/registry.log" >&2; return 1; }
}

build_image() {
    log "building $IMAGE from busybox-static (on each engine that lacks it) and pushing it"
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo '<h1>clusterkit</h1>' >"$root/www/index.html"
    for host in "unix:///var/run/docker.sock" "unix://$ENGINE2_SOCK"; do
        if ! DOCKER_HOST=$host docker image inspect "$IMAGE" >/dev/null 2>&1; then
            tar -C "$root" -c . | DOCKER_HOST=$host docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
        fi
    done
    rm -rf "$root"
    local password
    password=$(python3 -c "import json; print(json.load(open('$RUN/registry.json'))['password'])")
    # A throwaway docker config, so no credentials stay in ~/.docker for later pulls.
    local config
    config=$(mktemp -d)
    echo "$password" | docker --config "$config" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null
    docker tag "$IMAGE" "$REGISTRY/$IMAGE"
    docker --config "$config" push -q "$REGISTRY/$IMAGE" >/dev/null
    docker rmi "$REGISTRY/$IMAGE" >/dev/null
    rm -rf "$config"
}

ETCD_MEMBERS="1 2 3"
ETCD_DATA=/var/lib/clusterkit-etcd
ETCD_CLUSTER="m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"

etcd_healthy() {  # etcd_healthy N: member N answers as part of a cluster with a leader
    curl -sf "http://127.0.0.1:${1}2379/health" | grep -q '"health":"true"'
}

start_etcd_member() {  # start_etcd_member N
    local n=$1
    if pgrep -f "etcd --name m$n " >/dev/null; then log "etcd member m$n already running"; return; fi
    mkdir -p "$ETCD_DATA/m$n"
    local state=new
    [ -d "$ETCD_DATA/m$n/member" ] && state=existing
    log "starting etcd member m$n (client 127.0.0.1:${n}2379)"
    nohup etcd --name "m$n" --data-dir "$ETCD_DATA/m$n" \
        --listen-client-urls "http://127.0.0.1:${n}2379" --advertise-client-urls "http://127.0.0.1:${n}2379" \
        --listen-peer-urls "http://127.0.0.1:${n}2380" --initial-advertise-peer-urls "http://127.0.0.1:${n}2380" \
        --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state "$state" \
        --initial-cluster-token clusterkit-etcd --log-level warn \
        >>"$LOGS/etcd-m$n.log" 2>&1 &
}

stop_etcd_member() {  # stop_etcd_member N
    pkill -f "etcd --name m$1 " 2>/dev/null || true
    for _ in $(seq 50); do pgrep -f "etcd --name m$1 " >/dev/null || return 0; sleep 0.1; done
    pkill -9 -f "etcd --name m$1 " 2>/dev/null || true
}

start_etcd() {
    for n in $ETCD_MEMBERS; do start_etcd_member "$n"; done
    for n in $ETCD_MEMBERS; do
        wait_for "etcd member m$n" 60 etcd_healthy "$n" || { tail -20 "$LOGS/etcd-m$n.log" >&2; return 1; }
    done
}

HAPROXY_SOCK=$RUN/haproxy.sock
HAPROXY_PID=$RUN/haproxy.pid
HAPROXY_FRONTENDS="tests:18080 tests2:18081 example:18082 bench:18083"

haproxy_running() {
    [ -s "$HAPROXY_PID" ] && kill -0 "$(cat "$HAPROXY_PID")" 2>/dev/null && [ -S "$HAPROXY_SOCK" ]
}

write_haproxy_config() {
    {
        cat <<EOF
global
    stats socket $HAPROXY_SOCK mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
EOF
        local entry name port
        for entry in $HAPROXY_FRONTENDS; do
            name=${entry%%:*}
            port=${entry##*:}
            cat <<EOF

frontend fe_$name
    bind 127.0.0.1:$port
    default_backend $name

backend $name
    balance roundrobin
    option httpchk GET /
EOF
        done
    } >"$RUN/haproxy.cfg"
}

start_haproxy() {
    if haproxy_running; then log "haproxy already running"; return; fi
    # the package's own haproxy (by its pid file) is stopped: two processes on one port answer in turn
    if [ -s /run/haproxy.pid ]; then kill "$(cat /run/haproxy.pid)" 2>/dev/null || true; fi
    if command -v systemctl >/dev/null 2>&1; then systemctl stop haproxy >/dev/null 2>&1 || true; fi
    mkdir -p "$RUN" "$LOGS"
    chmod 700 "$RUN"
    write_haproxy_config
    haproxy -c -q -f "$RUN/haproxy.cfg"
    log "starting haproxy (runtime API on $HAPROXY_SOCK; frontends $HAPROXY_FRONTENDS)"
    rm -f "$HAPROXY_SOCK"
    nohup haproxy -f "$RUN/haproxy.cfg" >>"$LOGS/haproxy.log" 2>&1 &
    echo $! >"$HAPROXY_PID"
    wait_for "haproxy" 20 haproxy_running || { tail -20 "$LOGS/haproxy.log" >&2; return 1; }
}

stop_haproxy() {
    if [ -s "$HAPROXY_PID" ]; then kill "$(cat "$HAPROXY_PID")" 2>/dev/null || true; fi
    for _ in $(seq 50); do haproxy_running || break; sleep 0.1; done
    rm -f "$HAPROXY_PID" "$HAPROXY_SOCK"
}

status_haproxy() {
    if haproxy_running; then
        echo "haproxy: running (pid $(cat "$HAPROXY_PID"), runtime API $HAPROXY_SOCK)"
    else
        echo "haproxy: down"
    fi
}

start() {
    mkdir -p "$RUN" "$LOGS"
    chmod 700 "$RUN"
    start_engine1
    start_engine2
    start_registry
    build_image
    start_etcd
    start_haproxy
    log "ready: engine 1, engine 2 (unix://$ENGINE2_SOCK), registry $REGISTRY, image $IMAGE, etcd on 127.0.0.1:{1,2,3}2379, haproxy"
}

stop() {
    pkill -f "docker-registry serve $RUN/registry.yml" || true
    [ -f /run/clusterkit-engine2.pid ] && kill "$(cat /run/clusterkit-engine2.pid)" 2>/dev/null || true
    for n in $ETCD_MEMBERS; do stop_etcd_member "$n"; done
    stop_haproxy
    log "stopped the registry, engine 2, etcd and haproxy (engine 1 is the machine's and stays)"
}

status() {
    docker info --format 'engine 1: {{.ServerVersion}}' || echo "engine 1: down"
    DOCKER_HOST=unix://$ENGINE2_SOCK docker info --format 'engine 2: {{.ServerVersion}}' || echo "engine 2: down"
    echo "registry: HTTP $(curl -sS -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/" || echo down)"
    for n in $ETCD_MEMBERS; do
        if etcd_healthy "$n"; then echo "etcd m$n: healthy"; else echo "etcd m$n: down"; fi
    done
    status_haproxy
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    etcd-stop) stop_etcd_member "${2:?member 1..3}" ;;
    etcd-start) mkdir -p "$LOGS"; start_etcd_member "${2:?member 1..3}"; wait_for "etcd member m$2" 60 etcd_healthy "$2" ;;
    engine-start) engine_start "${2:?engine number 3..254}" ;;
    engine-stop) engine_stop "${2:?engine number 3..254}" ;;
    haproxy-start) start_haproxy ;;
    haproxy-stop) stop_haproxy ;;
    *) echo "usage: $0 start|stop|status|etcd-stop N|etcd-start N|engine-start N|engine-stop N|haproxy-start|haproxy-stop" >&2; exit 2 ;;
esac
