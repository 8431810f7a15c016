#!/bin/sh
# Tools the BUILD HOST (the machine running install) needs to build the local
# images: debootstrap for the Debian base. Go builds consul-template
# (`go install`); Debian's golang is too old for it, so it is checked, not installed.
set -eu
MODE=${1:-check}

case "$MODE" in
  check)
    command -v go >/dev/null 2>&1 || { echo "no go toolchain: consul-template is built with go install (Go 1.22 or newer)" >&2; exit 2; }
    command -v debootstrap >/dev/null 2>&1 || { echo "debootstrap missing"; exit 1; }
    exit 0 ;;
  apply)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ;;
  *) echo "usage: $0 check|apply" >&2; exit 2 ;;
esac
