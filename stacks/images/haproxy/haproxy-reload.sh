#!/bin/sh
# Called by consul-template after each render: never reload an invalid config,
# and report whether the reload really brought up a new worker.
set -u
new=/etc/haproxy/haproxy.cfg.new
cur=/etc/haproxy/haproxy.cfg
master=/var/run/haproxy-master.sock
log() { echo "paasbox-haproxy: $*" >&2; }
workers() { echo "show proc" | socat -t 5 stdio "unix-connect:$master" 2>/dev/null | awk '$2 == "worker" {print $1}' | tr '\n' ' '; }
# true when the list $2 holds a pid that list $1 does not
has_new() { for p in $2; do case " $1 " in *" $p "*) ;; *) return 0 ;; esac; done; return 1; }

if ! out=$(haproxy -c -f "$new" 2>&1); then
  cp "$new" /etc/haproxy/haproxy.cfg.rejected
  log "rendered config is INVALID, kept the running one (see /etc/haproxy/haproxy.cfg.rejected):"
  echo "$out" | sed 's/^/  /' >&2
  exit 0 # consul-template keeps watching; the next valid render goes in
fi

i=0
while [ ! -S "$master" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
before=$(workers)
cp "$cur" "$cur.prev" 2>/dev/null || true
cp "$new" "$cur.tmp" && mv "$cur.tmp" "$cur"
echo reload | socat -t 5 stdio "unix-connect:$master" >/dev/null 2>&1
# HAProxy 2.6 answers nothing to `reload`: success is a worker not there before.
# Polled briefly: consul-template renders the next change only after this exits.
i=0
while [ $i -lt 500 ]; do
  if has_new "$before" "$(workers)"; then
    log "config valid, reloaded ($(grep -c '^backend \|^listen ' "$cur") backends, $(grep -c '^ *server ' "$cur") servers)"
    exit 0
  fi
  sleep 0.02
  i=$((i + 1))
done
# The master kept the old workers and so the old config: keep the file in step.
cp "$cur" /etc/haproxy/haproxy.cfg.rejected
[ -f "$cur.prev" ] && mv "$cur.prev" "$cur"
log "config valid but the reload did not start a new worker (see the HAProxy log above); still serving the previous config"
