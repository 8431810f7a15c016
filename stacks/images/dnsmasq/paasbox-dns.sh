#!/bin/bash
# paasbox dns: dnsmasq on the stack's addresses only, never an open resolver.
#
#   paasbox-dns [--listen-address=ADDR]... [dnsmasq option]...
#
# dnsmasq cannot both bind chosen addresses and answer only local networks:
# it ignores --local-service as soon as --listen-address (or --interface) is
# given. So two dnsmasq run here, both with --bind-interfaces (only the
# addresses named, never an interface created later, never 127.0.0.53/54):
#   loopback: 127.0.0.1, reachable from this host only; the Consul domain
#     goes to Consul, every other name to the upstreams in resolv.conf.
#   network: each other --listen-address (the stack's advertised IP); the
#     Consul domain goes to Consul, any other name is REFUSED (--no-resolv),
#     so no one on any network gets recursion from it. Resolvers listing
#     this host first and the real upstream after it (stacks/templates/README.md)
#     move on to the next server on REFUSED.
# Both start as root only to bind port 53, then run as the dnsmasq user.
# The remaining options (--port, --server=/consul/..., logging) go to both.
# If either exits, the other is stopped and the container exits with it.
set -u

# PAASBOX_DNSMASQ: another binary, for the entrypoint's unit test (spec/unit/dns-entrypoint.spec.ts).
dnsmasq=${PAASBOX_DNSMASQ:-/usr/sbin/dnsmasq}
fixed=(--user=dnsmasq --no-negcache --dns-forward-max=1000 --bind-interfaces --pid-file=)
net=()
common=()
for a in "$@"; do
  case "$a" in
    --listen-address=127.0.0.1) ;;
    --listen-address=*) net+=("$a") ;;
    --bind-dynamic | --interface=* | --except-interface=* | --local-service* | --user=* | -a* | -i* | -I* | -u*)
      echo "paasbox-dns: $a is not accepted: the addresses are given as --listen-address=ADDR and the rest is fixed (see $0)" >&2
      exit 2 ;;
    *) common+=("$a") ;;
  esac
done

"$dnsmasq" "${fixed[@]}" --listen-address=127.0.0.1 "${common[@]}" &
pids=($!)
if [ ${#net[@]} -gt 0 ]; then
  "$dnsmasq" "${fixed[@]}" "${net[@]}" --no-resolv "${common[@]}" &
  pids+=($!)
fi

stop() { kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}"; exit 0; }
trap stop TERM INT
wait -n "${pids[@]}"
code=$?
echo "paasbox-dns: a dnsmasq exited ($code), stopping" >&2
kill -TERM "${pids[@]}" 2>/dev/null
wait
exit "$code"
