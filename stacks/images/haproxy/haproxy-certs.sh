#!/bin/sh
# Splits the certificates bundle consul-template renders (certs.ctmpl, from
# Consul K/V paasbox/certs/) into /etc/haproxy/certs/, one PEM a public name,
# where HAProxy's :443 bind picks them by SNI. Each is checked first, by
# HAProxy itself (a one-bind config with only that file, `haproxy -c`: the
# certificate parses, the key is its own, OpenSSL's security level takes the
# key), keeping only its PEM blocks. A bad one is logged by name and left out:
# a certificate can never make the config invalid and so freeze every route.
# The directory is replaced whole (mode 0700, files 0600), and only when the
# bundle changed (haproxy-reload runs this before every reload).
set -u
bundle=/etc/haproxy/certs.bundle
dir=/etc/haproxy/certs
log() { echo "paasbox-haproxy: $*" >&2; }
[ -f "$bundle" ] || exit 0
sum=$(cksum <"$bundle")
[ -d "$dir" ] && [ "$(cat "$dir.sum" 2>/dev/null)" = "$sum" ] && exit 0
umask 077
check=$(mktemp /tmp/haproxy-certs-check.XXXXXX) || exit 1
trap 'rm -f "$check"' EXIT
new=$(mktemp -d /etc/haproxy/certs.new.XXXXXX) || exit 1
name=
awk -v dir="$new" '
  /^-----paasbox-cert-end-----$/ { name = ""; next }
  /^-----paasbox-cert [^ ]+-----$/ {
    name = $2; sub(/-----$/, "", name)
    if (name !~ /^(\*\.)?[a-z0-9.-]+$/ || length(name) > 253) name = ""
    file = dir "/" (name ~ /^\*\./ ? "_wildcard" substr(name, 2) : name) ".pem"
    inblock = 0; next
  }
  name == "" { next }
  /^-----BEGIN [A-Z ]+-----$/ { inblock = 1 }
  inblock { print > file }
  /^-----END [A-Z ]+-----$/ { inblock = 0 }
' "$bundle"
for f in "$new"/*.pem; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .pem)
  printf 'global\n    httpclient.ssl.verify none\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend check\n    bind 127.0.0.1:1 ssl crt "%s"\n' "$f" >"$check"
  if ! why=$(haproxy -c -f "$check" 2>&1); then
    log "certificate for $n left out: HAProxy cannot load it ($(echo "$why" | grep -m1 -i 'alert\|error' | cut -c1-200))"
    rm -f "$f"
  fi
done
chmod 0700 "$new"
rm -rf "$dir.old"
[ -d "$dir" ] && mv "$dir" "$dir.old"
mv "$new" "$dir"
rm -rf "$dir.old"
echo "$sum" >"$dir.sum"
