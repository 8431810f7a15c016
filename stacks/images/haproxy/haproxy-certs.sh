#!/bin/sh
# Splits the certificates bundle consul-template renders (certs.ctmpl, from
# Consul K/V paasbox/certs/) into /etc/haproxy/certs/, one PEM a public name,
# where HAProxy's :443 bind picks them by SNI. Each is checked first: its PEM
# blocks only, a certificate that parses, a private key that is the
# certificate's. A bad one is logged by name and left out: a certificate can
# never make the config invalid and so freeze every route. The directory is
# replaced whole (mode 0700, files 0600); haproxy-reload reloads after this.
set -u
bundle=/etc/haproxy/certs.bundle
dir=/etc/haproxy/certs
log() { echo "paasbox-haproxy: $*" >&2; }
[ -f "$bundle" ] || exit 0
umask 077
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
  cert=$(openssl x509 -noout -pubkey -in "$f" 2>/dev/null) || cert=
  key=$(openssl pkey -pubout -in "$f" 2>/dev/null) || key=
  if [ -z "$cert" ] || [ "$cert" != "$key" ]; then
    log "certificate for $n left out: not a certificate with its own private key"
    rm -f "$f"
  fi
done
chmod 0700 "$new"
rm -rf "$dir.old"
[ -d "$dir" ] && mv "$dir" "$dir.old"
mv "$new" "$dir"
rm -rf "$dir.old"
