#!/bin/sh
# The official consul image's entrypoint contract: `-flag ...` means `agent -flag
# ...`; `agent ...` gets the data and config dirs (later flags win); any other
# consul subcommand runs as `consul SUBCOMMAND ...`; anything else runs as is.
set -e

# CONSUL_BIND_INTERFACE / CONSUL_CLIENT_INTERFACE name an interface whose first IPv4 becomes -bind / -client.
iface_ip() {
    ip -o -4 addr show dev "$1" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}'
}
CONSUL_BIND=
if [ -n "$CONSUL_BIND_INTERFACE" ]; then
    addr="$(iface_ip "$CONSUL_BIND_INTERFACE")"
    [ -n "$addr" ] || { echo "Could not find IP for interface '$CONSUL_BIND_INTERFACE', exiting" >&2; exit 1; }
    CONSUL_BIND="-bind=$addr"
fi
CONSUL_CLIENT=
if [ -n "$CONSUL_CLIENT_INTERFACE" ]; then
    addr="$(iface_ip "$CONSUL_CLIENT_INTERFACE")"
    [ -n "$addr" ] || { echo "Could not find IP for interface '$CONSUL_CLIENT_INTERFACE', exiting" >&2; exit 1; }
    CONSUL_CLIENT="-client=$addr"
fi

# Extra JSON configuration, as the official image accepts it.
if [ -n "$CONSUL_LOCAL_CONFIG" ]; then
    echo "$CONSUL_LOCAL_CONFIG" > "$CONSUL_CONFIG_DIR/local.json"
fi

if [ "${1#-}" != "$1" ]; then
    set -- agent "$@"
fi

if [ "$1" = 'agent' ]; then
    shift
    set -- consul agent -data-dir="$CONSUL_DATA_DIR" -config-dir="$CONSUL_CONFIG_DIR" $CONSUL_BIND $CONSUL_CLIENT "$@"
elif [ "$1" = 'version' ]; then
    set -- consul "$@"
elif consul --help "$1" 2>&1 | grep -q "consul $1"; then
    set -- consul "$@"
fi

exec "$@"
