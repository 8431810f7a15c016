#!/bin/sh
# The docker engine: installed (Debian's docker.io when missing), running, and
# started again at boot: `systemctl enable --now docker` where systemd runs,
# else a launcher called from /etc/rc.local (containers, minimal VMs: the
# sysvinit script's `ulimit -n` fails without CAP_SYS_RESOURCE).
set -eu
MODE=${1:-check}
LAUNCHER=/usr/local/sbin/paasbox-dockerd
LOG=/var/log/paasbox-dockerd.log

has_systemd() { [ -d /run/systemd/system ]; }
# A kernel that enforces AppArmor makes docker load its docker-default profile
# with apparmor_parser; without it (a minimal Debian: docker.io comes without
# recommends) every container fails to start.
apparmor_needed() { [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && ! command -v apparmor_parser >/dev/null 2>&1 && ! [ -x /sbin/apparmor_parser ]; }
running() { docker info >/dev/null 2>&1; }
at_boot() {
  if has_systemd; then systemctl is-enabled docker >/dev/null 2>&1
  else [ -x "$LAUNCHER" ] && grep -q setsid "$LAUNCHER" && [ -x /etc/rc.local ] && grep -q "$LAUNCHER" /etc/rc.local
  fi
}

wait_socket() {
  i=0
  until running; do
    i=$((i + 1))
    if [ $i -gt 60 ]; then
      echo "dockerd did not answer within 60 s; last log lines:" >&2
      tail -n 20 "$LOG" 2>/dev/null >&2 || journalctl -u docker -n 20 --no-pager >&2 || true
      exit 1
    fi
    sleep 1
  done
}

case "$MODE" in
  check)
    command -v dockerd >/dev/null 2>&1 || { echo "docker engine not installed"; exit 1; }
    apparmor_needed && { echo "the kernel enforces AppArmor but apparmor_parser is missing"; exit 1; }
    running || { echo "dockerd not running"; exit 1; }
    at_boot || { echo "dockerd not started at boot"; exit 1; }
    exit 0 ;;
  apply)
    if ! command -v dockerd >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
    fi
    if apparmor_needed; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends apparmor >/dev/null
      # dockerd loads docker-default when it starts: a running one must restart to have it.
      if running; then
        if has_systemd; then systemctl restart docker; else pkill -x dockerd || true; sleep 2; fi
      fi
    fi
    if has_systemd; then
      systemctl enable --now docker
    else
      cat > "$LAUNCHER" <<'EOS'
#!/bin/sh
# Start dockerd in the background unless it runs (written by paasbox provisioning).
if ! pidof dockerd >/dev/null 2>&1; then
  rm -f /var/run/docker.pid
  # Its own session: a signal to the process group that started it (an ended
  # SSH session, a timeout, a job runner) must not take the daemon with it.
  setsid nohup dockerd </dev/null >>/var/log/paasbox-dockerd.log 2>&1 &
fi
EOS
      chmod 755 "$LAUNCHER"
      if [ ! -e /etc/rc.local ]; then printf '#!/bin/sh\n' > /etc/rc.local; fi
      grep -q "$LAUNCHER" /etc/rc.local || {
        # before a trailing "exit 0", if the file has one
        if grep -q '^exit 0' /etc/rc.local; then sed -i "s|^exit 0|$LAUNCHER\nexit 0|" /etc/rc.local
        else echo "$LAUNCHER" >> /etc/rc.local; fi
      }
      chmod 755 /etc/rc.local
      running || "$LAUNCHER"
    fi
    wait_socket ;;
  *) echo "usage: $0 check|apply" >&2; exit 2 ;;
esac
