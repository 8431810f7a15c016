#!/bin/sh
# Runs on the BUILD HOST before `docker build` of this context: consul-template
# is built with the host's Go (the Go module proxy is reachable, Debian has no
# consul-template), and the canonical templates are copied in from
# stacks/templates/ so the image carries exactly the committed file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
version=${CONSUL_TEMPLATE_VERSION:-v0.42.1}
mkdir -p "$here/.bin"
cp "$root/stacks/templates/haproxy.cfg.ctmpl" "$here/.bin/haproxy.cfg.ctmpl"
cp "$root/stacks/templates/certs.ctmpl" "$here/.bin/certs.ctmpl"
if ! [ -x "$here/.bin/consul-template" ] || [ "$(cat "$here/.bin/consul-template.version" 2>/dev/null)" != "$version" ]; then
  command -v go >/dev/null || { echo "prepare: 'go' is not installed on the build host; install Go >= 1.22 (it builds consul-template $version)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Outside any module so `go install pkg@version` resolves on its own.
  (cd "$tmp" && GOBIN="$tmp/bin" CGO_ENABLED=0 GOFLAGS=-trimpath go install "github.com/hashicorp/consul-template@$version")
  mv "$tmp/bin/consul-template" "$here/.bin/consul-template"
  echo "$version" > "$here/.bin/consul-template.version"
fi
# Mode 755 here: the image copies it as it is (a chmod in the image would
# store its 21 MB twice).
chmod 755 "$here/.bin/consul-template"
