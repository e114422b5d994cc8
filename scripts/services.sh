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
#
# Needs the Debian packages docker.io, busybox-static, docker-registry, apache2-utils and
# iproute2 (.ci/run installs them). Usage: scripts/services.sh start|stop|status
set -euo pipefail

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

start_engine2() {
    if DOCKER_HOST=unix://$ENGINE2_SOCK docker info >/dev/null 2>&1; then log "engine 2 already running"; return; fi
    log "starting engine 2 on bridge $ENGINE2_BRIDGE"
    if ! ip link show "$ENGINE2_BRIDGE" >/dev/null 2>&1; then
        ip link add "$ENGINE2_BRIDGE" type bridge
        ip addr add "$ENGINE2_CIDR" dev "$ENGINE2_BRIDGE"
    fi
    ip link set "$ENGINE2_BRIDGE" up
    # Never --bridge none: it would delete engine 1's docker0.
    nohup dockerd --data-root /var/lib/clusterkit-engine2 --exec-root /run/clusterkit-engine2 \
        --pidfile /run/clusterkit-engine2.pid -H "unix://$ENGINE2_SOCK" --bridge "$ENGINE2_BRIDGE" \
        >"$LOGS/engine2.log" 2>&1 &
    wait_for "engine 2" 60 env DOCKER_HOST="unix://$ENGINE2_SOCK" docker info \
        || { tail -20 "$LOGS/engine2.log" >&2; return 1; }
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

start() {
    mkdir -p "$RUN" "$LOGS"
    chmod 700 "$RUN"
    start_engine1
    start_engine2
    start_registry
    build_image
    log "ready: engine 1, engine 2 (unix://$ENGINE2_SOCK), registry $REGISTRY, image $IMAGE"
}

stop() {
    pkill -f "docker-registry serve $RUN/registry.yml" || true
    [ -f /run/clusterkit-engine2.pid ] && kill "$(cat /run/clusterkit-engine2.pid)" 2>/dev/null || true
    log "stopped the registry and engine 2 (engine 1 is the machine's and stays)"
}

status() {
    docker info --format 'engine 1: {{.ServerVersion}}' || echo "engine 1: down"
    DOCKER_HOST=unix://$ENGINE2_SOCK docker info --format 'engine 2: {{.ServerVersion}}' || echo "engine 2: down"
    echo "registry: HTTP $(curl -sS -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/" || echo down)"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
