#!/bin/sh
# Host keys are made on first start, so every container (not the image) has its own.
set -e
mkdir -p /run/sshd
ssh-keygen -A >/dev/null
if [ -n "$SSH_AUTHORIZED_KEYS" ] && [ ! -s /root/.ssh/authorized_keys ]; then
    printf '%s\n' "$SSH_AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
fi
exec "$@"
