#!/bin/sh
# Builds, offline from any box catalogue, the libvirt Vagrant box the VM test
# boots: Debian bookworm like an Ubuntu cloud box (systemd, systemd-networkd,
# systemd-resolved listening on 127.0.0.53/54, openssh-server, sudo, apparmor,
# GRUB on a partitioned qcow2) with a `vagrant` user that logs in with a key
# made here. Only Debian's mirror is needed (debootstrap).
#
#   sh spec/vm/build-box.sh            # prints the box name, adds it to vagrant
#
# Cached: the box is keyed by the sha256 of this script (every input is in it),
# built once into $PAASBOX_VM_CACHE (default /var/cache/paasbox-vm/KEY) and
# added to vagrant as paasbox-test/bookworm-KEY; a second run only prints the
# name. Needs root, loop devices, debootstrap, parted, qemu-img.
set -eu

SELF=$(readlink -f "$0")
KEY=$(sha256sum "$SELF" | cut -c1-12)
CACHE=${PAASBOX_VM_CACHE:-/var/cache/paasbox-vm}/$KEY
NAME=paasbox-test/bookworm-$KEY
MIRROR=${PAASBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SIZE_GB=20
PACKAGES=linux-image-amd64,systemd,systemd-sysv,systemd-resolved,dbus,udev,kmod,openssh-server,sudo,grub-pc,apparmor,iproute2,iputils-ping,procps,ca-certificates,curl,less

log() { printf '%s build-box: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [ -f "$CACHE/box.box" ]; then
  log "cached: $CACHE/box.box"
else
  [ "$(id -u)" = 0 ] || { echo "build-box: needs root (loop devices, mount, chroot)" >&2; exit 2; }
  for t in debootstrap parted qemu-img losetup partx mkfs.ext4 ssh-keygen; do
    command -v "$t" >/dev/null || { echo "build-box: $t is missing: apt-get install debootstrap parted qemu-utils e2fsprogs util-linux openssh-client" >&2; exit 2; }
  done
  START=$(date +%s)
  WORK=$(mktemp -d /var/tmp/paasbox-box.XXXXXX)
  MNT=$WORK/root
  LOOP=
  cleanup() {
    for m in dev/pts dev proc sys ''; do umount "$MNT/$m" 2>/dev/null || true; done
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
    rm -rf "$WORK"
  }
  trap cleanup EXIT INT TERM

  log "disk: ${SIZE_GB}G raw, one bootable ext4 partition"
  qemu-img create -q -f raw "$WORK/disk.raw" "${SIZE_GB}G"
  parted -s "$WORK/disk.raw" mklabel msdos mkpart primary ext4 1MiB 100% set 1 boot on
  LOOP=$(losetup -fP --show "$WORK/disk.raw")
  # Some kernels make no partition nodes for loop devices: ask for them.
  [ -b "${LOOP}p1" ] || partx -a "$LOOP" 2>/dev/null || true
  [ -b "${LOOP}p1" ] || { echo "build-box: no partition device ${LOOP}p1" >&2; exit 1; }
  mkfs.ext4 -q -L root "${LOOP}p1"
  UUID=$(blkid -s UUID -o value "${LOOP}p1")
  mkdir -p "$MNT"
  mount "${LOOP}p1" "$MNT"

  log "debootstrap bookworm (minbase + kernel, systemd, resolved, sshd, sudo, grub, apparmor)"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$MNT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }

  for m in dev dev/pts proc sys; do mount --bind "/$m" "$MNT/$m"; done

  log "configure: fstab, network (networkd, DHCP on eth0), resolved, vagrant user"
  echo "UUID=$UUID / ext4 errors=remount-ro 0 1" >"$MNT/etc/fstab"
  echo paasbox-box >"$MNT/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 paasbox-box\n' >"$MNT/etc/hosts"
  mkdir -p "$MNT/etc/systemd/network"
  # The first NIC is the management network (vagrant-libvirt attaches it first);
  # Vagrant writes 50-vagrant-eth1.network for the private one.
  printf '[Match]\nName=eth0\n[Network]\nDHCP=yes\n' >"$MNT/etc/systemd/network/10-mgmt.network"
  ln -sf /run/systemd/resolve/stub-resolv.conf "$MNT/etc/resolv.conf"
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$MIRROR" "$MIRROR" >"$MNT/etc/apt/sources.list"
  ssh-keygen -q -t ed25519 -N '' -C paasbox-test-box -f "$WORK/vagrant_key"
  chroot "$MNT" sh -eu -c '
    systemctl enable systemd-networkd systemd-resolved ssh >/dev/null 2>&1
    useradd -m -s /bin/bash vagrant
    echo "vagrant ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/vagrant
    chmod 0440 /etc/sudoers.d/vagrant
    install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
    echo "UseDNS no" >/etc/ssh/sshd_config.d/vagrant.conf
    apt-get clean
  '
  install -m 0600 -o 1000 -g 1000 "$WORK/vagrant_key.pub" "$MNT/home/vagrant/.ssh/authorized_keys"
  chroot "$MNT" chown -R vagrant:vagrant /home/vagrant/.ssh

  log "grub: i386-pc on the disk, grub.cfg by UUID (never the build host's loop device)"
  chroot "$MNT" grub-install --target=i386-pc --modules="part_msdos ext2" "$LOOP" >"$WORK/grub.log" 2>&1 \
    || { cat "$WORK/grub.log" >&2; exit 1; }
  KVER=$(ls "$MNT/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
  cat >"$MNT/boot/grub/grub.cfg" <<EOF
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry 'Debian bookworm' {
  insmod part_msdos
  insmod ext2
  search --no-floppy --fs-uuid --set=root $UUID
  linux /boot/vmlinuz-$KVER root=UUID=$UUID ro net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200
  initrd /boot/initrd.img-$KVER
}
EOF
  for m in dev/pts dev proc sys; do umount "$MNT/$m"; done
  umount "$MNT"
  losetup -d "$LOOP"; LOOP=

  log "box: qcow2 + metadata + Vagrantfile (own key, qemu emulation default)"
  mkdir -p "$WORK/box"
  qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
  printf '{"provider":"libvirt","format":"qcow2","virtual_size":%s}\n' "$SIZE_GB" >"$WORK/box/metadata.json"
  install -m 0600 "$WORK/vagrant_key" "$WORK/box/vagrant_key"
  cat >"$WORK/box/Vagrantfile" <<'EOF'
# paasbox's offline test box: log in as vagrant with the key shipped beside this file.
Vagrant.configure('2') do |config|
  config.ssh.username = 'vagrant'
  config.ssh.private_key_path = File.join(__dir__, 'vagrant_key')
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = 'virtio'
    lv.nic_model_type = 'virtio'
  end
end
EOF
  mkdir -p "$CACHE"
  tar -C "$WORK/box" -cf "$CACHE/box.box.tmp" metadata.json Vagrantfile vagrant_key box.img
  mv "$CACHE/box.box.tmp" "$CACHE/box.box"
  log "built in $(( $(date +%s) - START )) s: $CACHE/box.box"
fi

if ! vagrant box list 2>/dev/null | grep -q "^$NAME "; then
  log "vagrant box add $NAME"
  vagrant box add --force --name "$NAME" --provider libvirt "$CACHE/box.box" >&2
fi
echo "$NAME"
