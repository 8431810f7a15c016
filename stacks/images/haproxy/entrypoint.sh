#!/bin/bash
# Runs HAProxy in master-worker mode and consul-template beside it; if either
# dies the container exits (and the restart policy brings both back). SIGTERM
# stops both at once. Install's secrets, when mounted in /run/secrets/paasbox:
# consul-token, consul-template's Consul token (it retries until Consul knows
# it), and stats-auth, the stats login (user:password), which the config's
# `stats auth "${HAPROXY_STATS_AUTH}"` reads from this process's environment,
# and tls/edge.pem, the stack's certificate and key: with it the config binds
# :443 (HAPROXY_TLS_CRT names it).
set -u
cfg=/etc/haproxy/haproxy.cfg
secrets=/run/secrets/paasbox
if [ -s "$secrets/tls/edge.pem" ]; then
  export HAPROXY_TLS_CRT="$secrets/tls/edge.pem"
fi
if [ -s "$secrets/consul-token" ]; then
  export CONSUL_HTTP_TOKEN_FILE="$secrets/consul-token"
fi
if [ -s "$secrets/stats-auth" ]; then
  HAPROXY_STATS_AUTH=$(cat "$secrets/stats-auth")
  export HAPROXY_STATS_AUTH
fi
# A config left by an earlier run is used only if still valid, and without its
# tcp frontends: another process may hold one of their ports by now, and a
# port HAProxy cannot bind stops it from starting at all. The first render
# (forced below) brings them back, through haproxy-reload's port check.
haproxy -c -q -f "$cfg" >/dev/null 2>&1 || cp /etc/haproxy/bootstrap.cfg "$cfg"
awk '/^[^ \t]/ { skip = /^listen tcp_/ } { print (skip ? "#" : "") $0 }' "$cfg" >"$cfg.start" && mv "$cfg.start" "$cfg"
# The certificates of the last run, checked again; then force a render (and
# so a reload) on start even if the catalog and the certificates did not change.
/usr/local/bin/haproxy-certs
rm -f "$cfg.new" /etc/haproxy/certs.bundle

haproxy -W -db -S /var/run/haproxy-master.sock,mode,600 -f "$cfg" "$@" &
hp=$!
consul-template -config /etc/consul-template/haproxy.hcl &
ct=$!
stop() { kill -TERM "$ct" "$hp" 2>/dev/null; wait "$ct" "$hp"; exit 0; }
trap stop TERM INT
wait -n "$hp" "$ct"
code=$?
echo "paasbox-haproxy: a child exited ($code), stopping" >&2
kill -TERM "$ct" "$hp" 2>/dev/null
wait
exit "$code"
