#!/bin/sh
# Starts python1 and python2 with 2 instances each on random published ports.
# Registrator registers each in Consul; HAProxy then routes
#   curl -H 'Host: python1.service.consul' http://HOST/
# and `dig @HOST python1.service.consul SRV` lists both instances.
set -eu
IMAGE=${IMAGE:-paasbox/simplewebapp-python:latest}
PREFIX=${PREFIX:-simplewebapp}
for service in python1 python2; do
  for i in 1 2; do
    name="$PREFIX-$service-$i"
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --restart unless-stopped -P \
      -e SERVICE_NAME="$service" -e SERVICE_TAGS=http -e SERVICE_CHECK_HTTP=/health \
      --label paasbox.example=SimpleWebappPython "$IMAGE" >/dev/null
    echo "started $name on $(docker port "$name" 8080/tcp | head -1)"
  done
done
