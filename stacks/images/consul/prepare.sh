#!/bin/sh
# Runs on the BUILD HOST before `docker build` of this context: Consul is built
# with the host's Go from the wrapper module in build/ (go.mod + go.sum pin
# github.com/hashicorp/consul v1.16.3 and every dependency, so each build is
# the same). Why 1.16.3: the newest Consul under MPL-2.0 that the Go module
# proxy serves (1.16.4/1.16.5 are not served; 1.16.6 and 1.17+ are BUSL-1.1,
# not an open-source licence). Debian's consul (bullseye, 1.8.7) is out of
# support (CVE-2022-29153, CVE-2021-38698). The binary is cached in .bin/ by
# the sha256 of go.mod + go.sum + the build flags: a change to any rebuilds it
# (cold: ~13 min on 2 busy cores; Go's build cache makes a relink quick).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/.bin"
# -s -w: no symbol table or DWARF (170 MB -> about 120 MB in the image).
flags='-trimpath -ldflags=-s -w'
stamp=$( (cat "$here/build/go.mod" "$here/build/go.sum"; echo "$flags") | sha256sum | cut -d' ' -f1)
if ! [ -x "$here/.bin/consul" ] || [ "$(cat "$here/.bin/consul.version" 2>/dev/null)" != "$stamp" ]; then
  command -v go >/dev/null || { echo "prepare: 'go' is not installed on the build host; install Go >= 1.22 (it builds consul v1.16.3)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp "$here/build/go.mod" "$here/build/go.sum" "$here/build/tools.go" "$tmp/"
  # -mod=readonly: go.sum must already hold every module (no silent re-resolution).
  (cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags='-s -w' -o "$tmp/consul" github.com/hashicorp/consul)
  mv "$tmp/consul" "$here/.bin/consul"
  echo "$stamp" > "$here/.bin/consul.version"
fi
# Mode 755 here: the image copies it as it is (a chmod in the image would store it twice).
chmod 755 "$here/.bin/consul"
