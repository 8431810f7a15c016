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
# docker-compose v1 is a python program: asking its version costs ~0.6 s. Once
# it passed, the binary's identity (path, size, mtime) is noted; a check that
# finds the same binary trusts it, any other binary is asked again.
STAMP=/var/lib/paasbox/compose-tool.ok
v1_id() { p=$(command -v docker-compose 2>/dev/null) && stat -L -c '%n %s %Y' "$p"; }
v1_known() { [ -f "$STAMP" ] && id=$(v1_id) && [ "$(cat "$STAMP")" = "$id" ]; }
v1_checked() {
  v1_known && return 0
  v1_ok || return 1
  mkdir -p "${STAMP%/*}" && v1_id > "$STAMP" || true
}
have() { docker compose version >/dev/null 2>&1 || v1_checked; }

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
