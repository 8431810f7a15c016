#!/bin/sh
# Builds paasbox/simplewebapp-python:latest on the paasbox base image.
# BASE=debian:bookworm-slim ./build-docker-image.sh uses another base.
set -eu
cd "$(dirname "$0")"
IMAGE=${IMAGE:-paasbox/simplewebapp-python:latest}
docker build --build-arg "BASE=${BASE:-paasbox/debian:bookworm}" -t "$IMAGE" .
echo "built $IMAGE"
