#!/bin/sh
# easy-rsa on the machine running install (the build host), for the VPN's PKI
# (src/vpn/pki.ts): only when the stack runs OpenVPN. Debian's package puts
# the script in /usr/share/easy-rsa; Homebrew's `easyrsa` on PATH also does.
set -eu
MODE=${1:-check}

case "$MODE" in
  check)
    [ -x /usr/share/easy-rsa/easyrsa ] && exit 0
    command -v easyrsa >/dev/null 2>&1 && exit 0
    echo "easy-rsa missing"; exit 1 ;;
  apply)
    command -v apt-get >/dev/null 2>&1 || { echo "no apt-get here: install easy-rsa yourself (brew install easy-rsa on macOS)" >&2; exit 2; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends easy-rsa >/dev/null ;;
  *) echo "usage: $0 check|apply" >&2; exit 2 ;;
esac
