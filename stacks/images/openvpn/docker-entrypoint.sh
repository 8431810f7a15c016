#!/bin/sh
# Starts OpenVPN on the files install wrote (/opt/paasbox/openvpn on the host,
# mounted read-only here): server.conf, the CA certificate, the server's own
# key and certificate, the tls-crypt key and the CRL. It never generates keys:
# without them it stops, saying what is missing and how to get it.
set -e
DIR=/etc/openvpn/paasbox
missing=""
for f in server.conf ca.crt server.crt server.key tc.key crl.pem; do
    [ -s "$DIR/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
    echo "paasbox-openvpn: missing in $DIR:$missing." >&2
    echo "paasbox-openvpn: install writes them (with services: { openvpn: { enabled: true } } in paasbox.yaml, run npx paasbox install);" >&2
    echo "paasbox-openvpn: this image never makes keys itself (the CA key stays on the machine that ran install)." >&2
    exit 78
fi
if [ -f "$DIR/ca.key" ]; then
    echo "paasbox-openvpn: $DIR/ca.key is here: the CA key must stay on the machine that ran install; remove it from /opt/paasbox/openvpn" >&2
    exit 78
fi
# The management socket (paasbox vpn revoke ends a revoked client's session through it).
mkdir -p /run/openvpn
chmod 0700 /run/openvpn
mkdir -p /dev/net
[ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200 2>/dev/null || true
exec "$@"
