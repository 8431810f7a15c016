#!/bin/sh
# Base packages the stack and the other steps need. Debian/Ubuntu (apt) only.
set -eu
MODE=${1:-check}
# zstd: image pushes are compressed with it when both ends have it (src/images/push.ts).
PKGS="ca-certificates curl iproute2 iptables procps zstd"

# One dpkg-query for all (one per package cost ~100 ms of every re-converge).
missing() {
  # shellcheck disable=SC2086
  ok=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | awk '/ install ok installed$/ {print $1}')
  for p in $PKGS; do
    printf '%s\n' "$ok" | grep -qx "$p" || echo "$p"
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
