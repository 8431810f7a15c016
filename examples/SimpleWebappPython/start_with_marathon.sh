#!/bin/sh
# Deploys python1 and python2 (2 instances each) from their Marathon app JSON.
#   MARATHON_URL=http://MASTER:8080 ./start_with_marathon.sh   posts them to Marathon with curl
#   ./start_with_marathon.sh [deploy.mjs options]              uses paasbox's deploy script:
#       Marathon when it answers on the target's 8080, else Docker swarm mode,
#       e.g. ./start_with_marathon.sh --target root@10.0.0.5
# Then: curl -H 'Host: python1.service.consul' http://HOST/  and  dig @HOST python1.service.consul SRV
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${MARATHON_URL:-}" ]; then
  for app in deploy1_marathon deploy2_marathon; do
    # POST creates; 409 means it exists, so PUT replaces its definition.
    code=$(curl -sS -o /tmp/paasbox-$app.out -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data-binary @"$here/$app.json" "$MARATHON_URL/v2/apps")
    if [ "$code" = 409 ]; then
      id=$(sed -n 's/^ *"id": *"\/\{0,1\}\([^"]*\)".*/\1/p' "$here/$app.json" | head -1)
      code=$(curl -sS -o /tmp/paasbox-$app.out -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        --data-binary @"$here/$app.json" "$MARATHON_URL/v2/apps/$id?force=true")
    fi
    case "$code" in
      2*) echo "$app: accepted by Marathon (HTTP $code)" ;;
      *) echo "$app: Marathon answered HTTP $code: $(cat /tmp/paasbox-$app.out)" >&2; exit 1 ;;
    esac
  done
else
  cd "$here/../.."
  for app in deploy1_marathon deploy2_marathon; do
    npx zx scripts/deploy.mjs "$here/$app.json" --wait "$@"
  done
fi
