#!/bin/sh
# Runs on the BUILD HOST before `docker build` of this context: stages the apps
# API (bin/paasbox-api.mjs over dist/src) into .bin/app/, laid out as the
# repository is, so repoPath() finds stacks/schema and the rest at
# /opt/paasbox-api in the image: dist/src and dist/validators (`npm run build`),
# bin/paasbox-api.mjs, stacks/schema, stacks/paasbox.yaml, package.json, and
# the production node_modules closure (`npm ls --omit=dev --all --parseable`).
# Node's own files only: the image runs them on Debian's nodejs.
# The same image runs the ACME renewer (bin/paasbox-acme.mjs, issue 22) and its
# `lego`: lego's library (Go module github.com/go-acme/lego/v5, pinned in
# lego/go.mod, MIT at that version: its LICENSE is checked below), built here
# with the host's Go from the Go module proxy, as
# stacks/images/haproxy/prepare.sh builds consul-template. v5: the proxy serves
# no v4 any more.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
app=$here/.bin/app
fail() { echo "prepare (apps-api): $*" >&2; exit 1; }
[ -f "$root/dist/src/api/main.js" ] ||
  fail "$root/dist/src/api/main.js is missing: run \`npm run build\` in $root first (the image ships the compiled dist/src)"
[ -f "$root/bin/paasbox-api.mjs" ] || fail "$root/bin/paasbox-api.mjs is missing (the image's entry script)"
[ -f "$root/bin/paasbox-acme.mjs" ] || fail "$root/bin/paasbox-acme.mjs is missing (the ACME renewer's entry script)"
[ -d "$root/node_modules" ] || fail "$root/node_modules is missing: run \`npm ci\` in $root first"
command -v npm >/dev/null || fail "npm is not installed on the build host (it lists the production node_modules)"
# The production packages, relative to the root (the first line is the root itself).
mods=$(cd "$root" && npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s|^$root/node_modules/|node_modules/|p" | sort -u)
[ -n "$mods" ] || fail "\`npm ls --omit=dev\` lists no production packages in $root: run \`npm ci\` there"
rm -rf "$app"
mkdir -p "$app/dist" "$app/bin" "$app/stacks"
cp -R "$root/dist/src" "$app/dist/src"
# ajv's precompiled validators (optional: without them the schemas are compiled at start).
[ ! -d "$root/dist/validators" ] || cp -R "$root/dist/validators" "$app/dist/validators"
cp "$root/bin/paasbox-api.mjs" "$app/bin/paasbox-api.mjs"
cp "$root/bin/paasbox-acme.mjs" "$app/bin/paasbox-acme.mjs"
cp -R "$root/stacks/schema" "$app/stacks/schema"
cp "$root/stacks/paasbox.yaml" "$app/stacks/paasbox.yaml"
cp "$root/package.json" "$app/package.json"
# shellcheck disable=SC2086 # one path per word (npm package paths have no spaces)
(cd "$root" && tar -cf - $mods) | (cd "$app" && tar -xf -)
# The compiled tests are not the API's.
rm -rf "$app/dist/spec"

# lego (./lego: lego's `run` over its library, see lego/main.go), built when
# its sources or the pinned version change. Stripped (-s -w): the image copies
# it as it is, mode 755. The module cache is Go's own; the library's LICENSE is
# read there at the pinned version.
lego=$here/.bin/lego
stamp=$(cat "$here/lego/go.mod" "$here/lego/go.sum" "$here/lego/main.go" | cksum | cut -d' ' -f1)
if ! [ -x "$lego" ] || [ "$(cat "$lego.stamp" 2>/dev/null)" != "$stamp" ]; then
  command -v go >/dev/null || fail "'go' is not installed on the build host; install Go >= 1.26 (it builds lego)"
  version=$(cd "$here/lego" && go list -m -f '{{.Version}}' github.com/go-acme/lego/v5) ||
    fail "cannot resolve github.com/go-acme/lego/v5 (the Go module proxy must be reachable)"
  dir=$(cd "$here/lego" && go mod download -json github.com/go-acme/lego/v5 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  head -n 1 "$dir/LICENSE" 2>/dev/null | grep -q 'The MIT License' ||
    fail "lego $version is not under the MIT licence (its LICENSE in $dir says: $(head -n 1 "$dir/LICENSE" 2>/dev/null))"
  (cd "$here/lego" && CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" go build -ldflags "-s -w" -o "$lego.new" .)
  mv "$lego.new" "$lego"
  echo "$stamp" > "$lego.stamp"
  echo "prepare (apps-api): lego $version (MIT) built into .bin/lego"
fi
chmod 755 "$lego"
