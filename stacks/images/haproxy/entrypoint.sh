#!/bin/bash
# Runs HAProxy in master-worker mode and consul-template beside it; if either
# dies the container exits (and the restart policy brings both back). SIGTERM
# stops both at once.
set -u
cfg=/etc/haproxy/haproxy.cfg
# A config left by an earlier run is used only if still valid.
haproxy -c -q -f "$cfg" >/dev/null 2>&1 || cp /etc/haproxy/bootstrap.cfg "$cfg"
# Force a render (and so a reload) on start even if the catalog did not change.
rm -f "$cfg.new"

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
