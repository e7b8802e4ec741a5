#!/usr/bin/env bash
# A real Docker engine for the compose tests (make test-compose), with no image registry:
#   start   install docker.io/debootstrap if missing, start dockerd on .airlock/docker (own data root)
#   images  the Debian base (debootstrap) and local stand-ins tagged with the upstream names that
#           docker-compose.yml uses (postgres:16, chrislusf/seaweedfs:4.48, ghcr.io/mlflow/mlflow)
#   stop    stop dockerd, remove docker0 and the engine's iptables rules: leave the host as found
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD/.airlock/docker
mkdir -p "$ROOT"
say() { echo "compose-engine: $*"; }
has_image() { docker image inspect "$1" >/dev/null 2>&1; }

start() {
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing docker.io and debootstrap (apt, ~30 s)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  fi
  if docker info >/dev/null 2>&1; then say "engine already running"; return; fi
  sysctl -n net.ipv4.ip_forward > "$ROOT/ip_forward.before" 2>/dev/null || true
  dockerd --data-root "$ROOT/data" --pidfile "$ROOT/dockerd.pid" > "$ROOT/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && { say "engine up"; return; }; sleep 0.5; done
  say "dockerd did not start; see $ROOT/dockerd.log"; exit 1
}

images() {
  if ! has_image local/debian:bookworm; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    say "debootstrap bookworm from ${mirror:-deb.debian.org} (~60 s)"
    rm -rf "$ROOT/rootfs"
    debootstrap --variant=minbase bookworm "$ROOT/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$ROOT/debootstrap.log"
    tar -C "$ROOT/rootfs" -c . | docker import - local/debian:bookworm >/dev/null
    rm -rf "$ROOT/rootfs"
  fi
  ctx=$ROOT/context && rm -rf "$ctx" && mkdir -p "$ctx/ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  cp deploy/local/*.Dockerfile deploy/local/*.sh "$ctx/"
  build() { say "building $1"; docker build -q -t "$1" -f "$ctx/$2" "$ctx" >/dev/null; }
  has_image airlock/python:local || build airlock/python:local python.Dockerfile
  has_image postgres:16 || build postgres:16 postgres.Dockerfile
  if ! has_image chrislusf/seaweedfs:4.48; then cp .venv/bin/weed "$ctx/weed"; build chrislusf/seaweedfs:4.48 seaweedfs.Dockerfile; fi
  has_image ghcr.io/mlflow/mlflow:v3.17.2 || build ghcr.io/mlflow/mlflow:v3.17.2 mlflow.Dockerfile
  rm -rf "$ctx"
}

stop() {
  if [ -f "$ROOT/dockerd.pid" ]; then
    kill "$(cat "$ROOT/dockerd.pid")" 2>/dev/null || true
    for _ in $(seq 40); do [ -e "/proc/$(cat "$ROOT/dockerd.pid" 2>/dev/null)" ] || break; sleep 0.5; done
  fi
  ip link del docker0 2>/dev/null || true
  for t in nat filter; do
    iptables -t $t -S 2>/dev/null | grep -i docker | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
      iptables -t $t $rule 2>/dev/null || true
    done
    for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
      iptables -t $t -F $c 2>/dev/null || true; iptables -t $t -X $c 2>/dev/null || true
    done
  done
  rm -rf /run/docker /run/docker.sock /var/run/docker.pid "$ROOT/dockerd.pid"
  [ -f "$ROOT/ip_forward.before" ] && sysctl -qw net.ipv4.ip_forward="$(cat "$ROOT/ip_forward.before")" || true
  say "engine stopped"
}

"${1:?usage: compose-engine.sh start|images|stop}"
