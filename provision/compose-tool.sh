#!/bin/sh
# A compose tool: `docker compose` (v2) when present, else docker-compose 1.27+
# (v1 reads version-less compose-spec files). Installs from apt when neither works.
set -eu
MODE=${1:-check}

v1_ok() {
  v=$(docker-compose version --short 2>/dev/null) || return 1
  maj=${v%%.*}; rest=${v#*.}; min=${rest%%.*}
  [ "$maj" -gt 1 ] || { [ "$maj" -eq 1 ] && [ "$min" -ge 27 ]; }
}
have() { docker compose version >/dev/null 2>&1 || v1_ok; }

case "$MODE" in
  check)
    have && exit 0
    echo "no docker compose v2 and no docker-compose >= 1.27"
    exit 1 ;;
  apply)
    have && exit 0
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Ubuntu 24.04+ ships v2 as docker-compose-v2; Debian 12 and Ubuntu 22.04 have v1 1.29.
    if apt-cache show docker-compose-v2 >/dev/null 2>&1; then
      apt-get install -y -qq --no-install-recommends docker-compose-v2 >/dev/null
    else
      apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
    fi
    have ;;
  *) echo "usage: $0 check|apply" >&2; exit 2 ;;
esac
