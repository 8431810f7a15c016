#!/bin/sh
# Stops and removes the containers start.sh started; Registrator deregisters them.
set -eu
PREFIX=${PREFIX:-simplewebapp}
for service in python1 python2; do
  for i in 1 2; do
    docker rm -f "$PREFIX-$service-$i" >/dev/null 2>&1 && echo "removed $PREFIX-$service-$i" || true
  done
done
