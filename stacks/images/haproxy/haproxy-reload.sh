#!/bin/sh
# Called by consul-template after each render: never reload an invalid config.
set -u
new=/etc/haproxy/haproxy.cfg.new
cur=/etc/haproxy/haproxy.cfg
master=/var/run/haproxy-master.sock
log() { echo "paasbox-haproxy: $*" >&2; }

if ! out=$(haproxy -c -f "$new" 2>&1); then
  cp "$new" /etc/haproxy/haproxy.cfg.rejected
  log "rendered config is INVALID, kept the running one (see /etc/haproxy/haproxy.cfg.rejected):"
  echo "$out" | sed 's/^/  /' >&2
  # exit 0: consul-template keeps watching; the next valid render goes in.
  exit 0
fi
cp "$cur" "$cur.prev" 2>/dev/null || true
cp "$new" "$cur.tmp" && mv "$cur.tmp" "$cur"
i=0
while [ ! -S "$master" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if echo reload | socat -t 5 stdio "unix-connect:$master" >/dev/null 2>&1; then
  backends=$(grep -c '^backend \|^listen ' "$cur")
  servers=$(grep -c '^ *server ' "$cur")
  log "config valid, reloaded ($backends backends, $servers servers)"
else
  log "config valid but the reload through $master failed; HAProxy keeps the old config"
fi
