#!/bin/sh
# Host keys are made on first start, so every container (not the image) has its
# own. The keys allowed in are the file install writes on the host
# (/opt/paasbox/sshd/authorized_keys, mounted read-only at
# /etc/paasbox/authorized_keys), copied at each start to root's own file, owned
# by root with mode 0600, as sshd's StrictModes requires whatever the mounted
# file's owner and mode are.
set -e
mkdir -p /run/sshd
ssh-keygen -A >/dev/null
install -d -m 0700 -o root -g root /root/.ssh
if [ -f /etc/paasbox/authorized_keys ]; then
    install -m 0600 -o root -g root /etc/paasbox/authorized_keys /root/.ssh/authorized_keys
else
    echo "sshd: no /etc/paasbox/authorized_keys mounted: no key can log in" >&2
    rm -f /root/.ssh/authorized_keys
fi
exec "$@"
