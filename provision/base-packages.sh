#!/bin/sh
# Base packages the stack and the other steps need. Debian/Ubuntu (apt) only.
set -eu
MODE=${1:-check}
# zstd: image pushes are compressed with it when both ends have it (src/images/push.ts).
PKGS="ca-certificates curl iproute2 iptables procps zstd"

missing() {
  for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
  done
}

if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get: paasbox provisions Debian and Ubuntu hosts only" >&2
  exit 2
fi

case "$MODE" in
  check)
    m=$(missing)
    [ -z "$m" ] && exit 0
    echo "missing packages:" $m
    exit 1 ;;
  apply)
    m=$(missing)
    [ -z "$m" ] && exit 0
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $m ;;
  *) echo "usage: $0 check|apply" >&2; exit 2 ;;
esac
