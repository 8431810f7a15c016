#!/bin/sh
# Called by consul-template after each render: never reload an invalid config,
# report whether the reload really brought up a new worker, and never let one
# route stop the others: a tcp frontend whose port another process holds on
# the host (HAProxy could not bind it, and every later reload would fail too)
# is commented out before the reload, and one that fails to bind all the same
# is dropped and the rest reloaded. Each dropped route is logged once, by name.
# The certificates of public names are put in place first (haproxy-certs).
set -u
/usr/local/bin/haproxy-certs
new=/etc/haproxy/haproxy.cfg.new
cur=/etc/haproxy/haproxy.cfg
master=/var/run/haproxy-master.sock
log() { echo "paasbox-haproxy: $*" >&2; }
# The master's `show proc`: its workers' pids, and how many reloads it has
# made ("13 master 2 [failed: 1] ..."); empty while the master re-executes.
procs() { echo "show proc" | socat -t 5 stdio "unix-connect:$master" 2>/dev/null; }
workers() { echo "$1" | awk '$2 == "worker" {print $1}' | tr '\n' ' '; }
reloads() { echo "$1" | awk '$2 == "master" {print $3}'; }
# true when the list $2 holds a pid that list $1 does not
has_new() { for pid in $2; do case " $1 " in *" $pid "*) ;; *) return 0 ;; esac; done; return 1; }
# the ports of the tcp frontends (listen tcp_NAME_PORT) of config $1
tcp_ports() { awk '/^listen tcp_/ { n = split($2, a, "_"); print a[n] }' "$1" | sort -u; }
# the socket inodes HAProxy's processes (master and workers) hold
haproxy_sockets() {
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = haproxy ] && ls -l "$d/fd" 2>/dev/null
  done | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p'
}
# Of the ports $*, those another process than HAProxy listens on (TCP, IPv4
# or IPv6; host network, so this is the host's table).
taken() {
  listening=$(awk 'FNR > 1 && $4 == "0A" { split($2, a, ":"); print a[2], $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  [ -n "$listening" ] || return 0
  ours=
  for port in "$@"; do
    hex=$(printf '%04X' "$port")
    inodes=$(echo "$listening" | awk -v h="$hex" '$1 == h { print $2 }')
    [ -n "$inodes" ] || continue
    [ -n "$ours" ] || ours=" $(haproxy_sockets | tr '\n' ' ') "
    for i in $inodes; do
      case "$ours" in *" $i "*) ;; *) echo "$port"; break ;; esac
    done
  done
}
# Comment out the tcp frontends of config $1 on ports $3... in place, each
# replaced by a "# paasbox-dropped:" line giving reason $2.
drop() {
  f=$1 why=$2
  shift 2
  awk -v ports=" $* " -v why="$why" '
    /^[^ \t]/ { skip = 0 }
    /^listen tcp_/ {
      n = split($2, a, "_"); port = a[n]
      if (index(ports, " " port " ")) {
        name = $2; sub(/^tcp_/, "", name); sub(/_[0-9]+$/, "", name)
        print "# paasbox-dropped: " name " tcp=" port ": " why
        skip = 1
      }
    }
    { print (skip ? "#" : "") $0 }' "$f" >"$f.d" && mv "$f.d" "$f"
}
# Log the routes config $1 drops that the running one did not.
log_dropped() {
  grep '^# paasbox-dropped: ' "$1" | while IFS= read -r line; do
    grep -qxF "$line" "$cur" 2>/dev/null || log "route dropped: ${line#\# paasbox-dropped: }"
  done
}
# Put config $1 in place and reload; true when a new worker came up. Polled
# briefly: consul-template renders the next change only after this exits.
apply() {
  p=$(procs)
  before=$(workers "$p")
  count=$(reloads "$p")
  log_dropped "$1"
  cp "$cur" "$cur.prev" 2>/dev/null || true
  mv "$1" "$cur"
  echo reload | socat -t 5 stdio "unix-connect:$master" >/dev/null 2>&1
  # HAProxy 2.6 answers nothing to `reload`: success is a worker not there
  # before; failure, the master back with one more reload but no new worker
  # (it keeps the old ones), three polls in a row.
  i=0
  no=0
  while [ $i -lt 500 ]; do
    p=$(procs)
    n=$(reloads "$p")
    has_new "$before" "$(workers "$p")" && return 0
    if [ -n "$n" ] && [ -n "$count" ] && [ "$n" -gt "$count" ]; then
      no=$((no + 1))
      [ $no -lt 3 ] || break
    fi
    sleep 0.02
    i=$((i + 1))
  done
  # The master kept the old workers and so the old config: keep the file in step.
  cp "$cur" /etc/haproxy/haproxy.cfg.rejected
  [ -f "$cur.prev" ] && mv "$cur.prev" "$cur"
  return 1
}
reloaded() { log "config valid, reloaded ($(grep -c '^backend \|^listen ' "$cur") backends, $(grep -c '^ *server ' "$cur") servers)"; }

# consul-template runs this for either template; the config may not be rendered yet.
[ -f "$new" ] || exit 0
if ! out=$(haproxy -c -f "$new" 2>&1); then
  cp "$new" /etc/haproxy/haproxy.cfg.rejected
  log "rendered config is INVALID, kept the running one (see /etc/haproxy/haproxy.cfg.rejected):"
  echo "$out" | sed 's/^/  /' >&2
  exit 0 # consul-template keeps watching; the next valid render goes in
fi

i=0
while [ ! -S "$master" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
# consul-template compares its output with $new: that file stays as rendered.
work=$cur.tmp
cp "$new" "$work"
ports=$(tcp_ports "$work")
if [ -n "$ports" ]; then
  # shellcheck disable=SC2086 # one port per word
  busy=$(taken $ports)
  # shellcheck disable=SC2086
  [ -z "$busy" ] || drop "$work" "port taken on this host by another process" $busy
fi
cp "$work" "$work.try"
if apply "$work"; then
  reloaded
  exit 0
fi
# A bind failed that the check above could not see (a port taken meanwhile,
# an address HAProxy may not bind): drop the tcp frontends the running config
# does not have, and reload the rest, so one route never freezes the others.
fresh=$(tcp_ports "$work.try" | grep -vxF "$(tcp_ports "$cur")")
if [ -n "$fresh" ]; then
  # shellcheck disable=SC2086
  drop "$work.try" "the reload failed to bind it (see the HAProxy log above)" $fresh
  if apply "$work.try"; then
    reloaded
    exit 0
  fi
fi
rm -f "$work.try"
log "config valid but the reload did not start a new worker (see the HAProxy log above); still serving the previous config"
