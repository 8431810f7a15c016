#!/bin/sh
# First start: make a PKI with easy-rsa (CA, server, one client), a tls-crypt key,
# server.conf and an inline client profile, all under /etc/openvpn. Later starts
# reuse them. OVPN_PUSH_ROUTES lists "NET MASK" pairs separated by commas,
# e.g. "172.17.0.0 255.255.0.0,10.0.0.0 255.0.0.0".
set -e
DIR=/etc/openvpn
PKI=$DIR/pki
export EASYRSA_BATCH=1 EASYRSA_PKI=$PKI EASYRSA_ALGO=ec EASYRSA_CURVE=prime256v1

if [ ! -f "$PKI/issued/server.crt" ]; then
    echo "paasbox-openvpn: creating the PKI in $PKI" >&2
    rm -rf "$PKI"
    /usr/share/easy-rsa/easyrsa init-pki
    EASYRSA_REQ_CN=paasbox-openvpn-ca /usr/share/easy-rsa/easyrsa build-ca nopass
    /usr/share/easy-rsa/easyrsa build-server-full server nopass
    /usr/share/easy-rsa/easyrsa build-client-full "$OVPN_CLIENT" nopass
    openvpn --genkey secret "$DIR/tc.key"
fi

if [ ! -f "$DIR/server.conf" ]; then
    {
        echo "port $OVPN_PORT"
        echo "proto udp"
        echo "dev tun"
        echo "topology subnet"
        echo "server $OVPN_NETWORK $OVPN_NETMASK"
        echo "ca $PKI/ca.crt"
        echo "cert $PKI/issued/server.crt"
        echo "key $PKI/private/server.key"
        echo "dh none"
        echo "tls-crypt $DIR/tc.key"
        echo "keepalive 10 60"
        echo "persist-key"
        echo "persist-tun"
        echo "verb 3"
        echo "status /tmp/openvpn-status.log"
        echo "$OVPN_PUSH_ROUTES" | tr ',' '\n' | while read -r net mask; do
            if [ -n "$net" ]; then echo "push \"route $net $mask\""; fi
        done
    } > "$DIR/server.conf"
fi

if [ ! -f "$DIR/clients/$OVPN_CLIENT.ovpn" ]; then
    mkdir -p "$DIR/clients"
    {
        echo "client"
        echo "dev tun"
        echo "proto udp"
        echo "remote ${OVPN_REMOTE:-SERVER_ADDRESS} $OVPN_PORT"
        echo "nobind"
        echo "persist-key"
        echo "persist-tun"
        echo "remote-cert-tls server"
        echo "verb 3"
        echo "<ca>"; cat "$PKI/ca.crt"; echo "</ca>"
        echo "<cert>"; sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$PKI/issued/$OVPN_CLIENT.crt"; echo "</cert>"
        echo "<key>"; cat "$PKI/private/$OVPN_CLIENT.key"; echo "</key>"
        echo "<tls-crypt>"; cat "$DIR/tc.key"; echo "</tls-crypt>"
    } > "$DIR/clients/$OVPN_CLIENT.ovpn"
    chmod 0600 "$DIR/clients/$OVPN_CLIENT.ovpn"
fi

mkdir -p /dev/net
[ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200 2>/dev/null || true
exec "$@"
