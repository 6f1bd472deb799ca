#!/bin/bash
# build-test-guest.sh OUTDIR [ROOTFS_SIZE]
#
# Builds a tiny Linux test guest for QEMU from Debian 12 (bookworm) packages,
# without installing anything as the host kernel and without mounting anything.
# Default (~5 s incl. a 27 MB kernel download; cached .deb is reused):
#   OUTDIR/vmlinuz          Debian linux-image-<ver>-cloud-amd64 kernel (bzImage)
#   OUTDIR/initramfs.cpio.gz busybox-static + /init + virtio modules (~1.2 MiB)
#   OUTDIR/kernel-root/     the unpacked kernel package (config-*, modules)
# With ROOTFS_SIZE given (e.g. 64M) or ROOTFS=1 (64M):
#   OUTDIR/rootfs.raw       ext4 image made with `mkfs.ext4 -d` (no mount)
#   OUTDIR/base.qcow2       the same root filesystem as qcow2
#   OUTDIR/overlay.qcow2    copy-on-write overlay backed by base.qcow2
# With VMLINUX=1 (needs lz4): OUTDIR/vmlinux, the uncompressed ELF kernel for
#   PVH direct boot (`-kernel vmlinux`): skips real mode + the decompressor.
#
# Guest behaviour (kernel command line):
#   console=ttyS0           serial console (all markers are printed there)
#   root=/dev/vda           initramfs loads virtio_blk, mounts vda, switch_root
#   kumo.hold=1             stay up after the tests (heartbeat "HB n <uptime>" every
#                           kumo.hb seconds, default 5; n counts ticks since boot, so a
#                           live-migrated guest keeps counting on the destination)
#   kumo.hb=1               heartbeat period in seconds
#   kumo.net=0              skip DHCP even if eth0 exists
# While holding, a 1 s watcher prints hot-plug markers and onlines new CPUs/memory:
#   HOTPLUG-BLK-ADD vdb / HOTPLUG-BLK-DEL vdb, HOTPLUG-NET-ADD eth1 (then runs DHCP on it,
#   DHCP-LEASE ... iface=eth1) / HOTPLUG-NET-DEL eth1, HOTPLUG-CPU online=0-1,
#   HOTPLUG-MEM memtotal_kb=N. Each line written to ttyS0 is echoed as "CONSOLE-ECHO <line>".
# Markers on the console: GUEST-UP <uptime>, MODULES-LOADED, ROOT-MOUNTED,
#   ROOTFS-UP, GUEST-CPU, GUEST-VMX <count>, DHCP-LEASE, GUEST-IP, GUEST-PING,
#   GUEST-HOLD, GUEST-ACPI-POWERDOWN, GUEST-POWEROFF.
#
# Needs: apt (for `apt-get download`), dpkg, busybox-static, cpio, gzip,
#        e2fsprogs (mkfs.ext4 >= 1.43 for -d), qemu-utils. Runs as any user
#        except for the optional dependency install (root).
# Env:   ROOTFS=1, VMLINUX=1 (see above)
#        KERNEL_PKG  override the kernel package (default: whatever
#                    linux-image-cloud-amd64 depends on)
#        KERNEL_DEB  use this already-downloaded .deb instead of apt-get download
set -euo pipefail

OUT=${1:?usage: $0 OUTDIR [ROOTFS_SIZE e.g. 64M]}
ROOTFS_SIZE=${2:-}
[ -z "$ROOTFS_SIZE" ] && [ "${ROOTFS:-0}" = 1 ] && ROOTFS_SIZE=64M
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need busybox || [ -x /bin/busybox ] || missing+=(busybox-static)
need cpio || missing+=(cpio)
need mkfs.ext4 || missing+=(e2fsprogs)
[ -z "$ROOTFS_SIZE" ] || need qemu-img || missing+=(qemu-utils)
[ "${VMLINUX:-0}" != 1 ] || need lz4 || missing+=(lz4)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} (apt-get install them)" >&2; exit 1
  fi
fi
BUSYBOX=/bin/busybox
if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' && \
   ! ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic'; then
  echo "warning: $BUSYBOX does not look static; install busybox-static" >&2
fi

# ---------------------------------------------------------------- kernel ----
cd "$OUT"
if [ -z "${KERNEL_DEB:-}" ]; then
  KERNEL_PKG=${KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 \
      | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
  [ -n "$KERNEL_PKG" ] || { echo "cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
  mkdir -p debs
  ls debs/"${KERNEL_PKG}"_*.deb >/dev/null 2>&1 || ( cd debs && apt-get download "$KERNEL_PKG" )
  KERNEL_DEB=$(ls "$OUT"/debs/"${KERNEL_PKG}"_*.deb | head -1)
fi
rm -rf kernel-root && mkdir kernel-root
dpkg -x "$KERNEL_DEB" kernel-root
KVER=$(ls kernel-root/lib/modules | head -1)
cp kernel-root/boot/vmlinuz-"$KVER" vmlinuz
CONFIG=kernel-root/boot/config-$KVER
MODDIR=kernel-root/lib/modules/$KVER/kernel
echo "kernel $KVER"
for s in VIRTIO_PCI VIRTIO_MMIO VIRTIO_BLK VIRTIO_NET EXT4_FS DEVTMPFS SERIAL_8250_CONSOLE; do
  printf '  CONFIG_%s=%s\n' "$s" "$(grep -E "^CONFIG_${s}=" "$CONFIG" | cut -d= -f2 || echo n)"
done

# ---------------------------------------------------------- init scripts ----
write_init() {
cat > "$1" <<'EOF'
#!/bin/sh
# kumo test-guest init (PID 1 in the initramfs, and /sbin/init on the disk)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
STAGE=$(cat /etc/kumo-stage 2>/dev/null || echo initramfs)
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run; mount -t devpts devpts /dev/pts 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
CMDLINE=$(cat /proc/cmdline)
arg() { for a in $CMDLINE; do case "$a" in "$1"=*) echo "${a#*=}"; return;; esac; done; }
if [ "$STAGE" = initramfs ]; then
  echo "GUEST-UP $(up)"
  # Debian cloud kernel builds virtio as modules: load them in dependency order.
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
           virtio_mmio virtio_blk failover net_failover virtio_net virtio_balloon \
           virtio-rng scsi_common scsi_mod sd_mod cdrom sr_mod virtio_scsi libata ata_piix \
           button evdev; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
  done
  echo "MODULES-LOADED $(up)"
  ROOT=$(arg root)
  if [ -n "$ROOT" ]; then
    i=0; while [ ! -b "$ROOT" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
    mkdir -p /newroot
    if mount -t ext4 -o rw "$ROOT" /newroot; then
      echo "ROOT-MOUNTED $ROOT $(up)"
      umount /dev/pts 2>/dev/null; umount /proc /sys /dev 2>/dev/null
      exec switch_root /newroot /sbin/init
    fi
    echo "ROOT-MOUNT-FAILED $ROOT"
  fi
else
  echo "ROOTFS-UP $(up) root=$(arg root)"
fi
echo "GUEST-CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "GUEST-VMX $(grep -c -w -E 'vmx|svm' /proc/cpuinfo)"
# ACPI power button -> poweroff (QMP system_powerdown); needs button+evdev
if ls /dev/input/event* >/dev/null 2>&1; then
  mkdir -p /etc/acpi
  printf '#!/bin/sh\necho "GUEST-ACPI-POWERDOWN $(cut -d" " -f1 /proc/uptime)" >/dev/console\npoweroff -f\n' > /etc/acpi/power.sh
  chmod +x /etc/acpi/power.sh; echo "PWRF power.sh" > /etc/acpid.conf
  acpid -c /etc/acpi -a /etc/acpid.conf -l /tmp/acpid.log 2>/dev/null
fi
if [ "$(arg kumo.net)" != 0 ] && [ -e /sys/class/net/eth0 ]; then
  ip link set lo up
  if udhcpc -i eth0 -s /etc/udhcpc.script -n -q -t 10 -T 1 >/tmp/udhcpc.log 2>&1; then
    cat /tmp/udhcpc.log | grep DHCP-LEASE
    IP=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
    GW=$(cat /tmp/router 2>/dev/null)
    echo "GUEST-IP $IP gw=$GW $(up)"
    [ -n "$GW" ] && ping -c 3 -W 2 "$GW" | tail -2 | sed 's/^/GUEST-PING /'
  else
    echo "GUEST-DHCP-FAILED $(up)"; cat /tmp/udhcpc.log
  fi
fi
if [ "$(arg kumo.hold)" = 1 ]; then
  HB=$(arg kumo.hb); HB=${HB:-5}
  # Console echo: proves the serial console socket carries input into the guest.
  ( while true; do
      if read -r line </dev/ttyS0; then [ -n "$line" ] && echo "CONSOLE-ECHO $line"; else sleep 1; fi
    done ) &
  lsb() { ls /sys/block 2>/dev/null | grep -E '^(vd|sd|sr)' | sort | tr '\n' ' '; }
  lsn() { ls /sys/class/net 2>/dev/null | grep -v '^lo$' | sort | tr '\n' ' '; }
  memkb() { awk '/^MemTotal/{print $2}' /proc/meminfo; }
  B0=$(lsb); N0=$(lsn); C0=$(cat /sys/devices/system/cpu/online); M0=$(memkb)
  echo "GUEST-HOLD $(up) blk=[$B0] net=[$N0] cpus=$C0 memtotal_kb=$M0"
  n=0; t=0
  while true; do
    sleep 1; t=$((t+1))
    [ $((t % HB)) = 0 ] && { n=$((n+1)); echo "HB $n $(up)"; }
    # Online hot-added CPUs and memory blocks (the kernel leaves them offline).
    for c in /sys/devices/system/cpu/cpu[0-9]*/online; do
      [ -f "$c" ] && [ "$(cat "$c")" = 0 ] && echo 1 > "$c" 2>/dev/null
    done
    for m in /sys/devices/system/memory/memory*/state; do
      [ -f "$m" ] && grep -q offline "$m" && echo online > "$m" 2>/dev/null
    done
    B=$(lsb); N=$(lsn); C=$(cat /sys/devices/system/cpu/online); M=$(memkb)
    for d in $B; do case " $B0 " in *" $d "*) ;; *) echo "HOTPLUG-BLK-ADD $d $(cat /sys/block/$d/size 2>/dev/null)";; esac; done
    for d in $B0; do case " $B " in *" $d "*) ;; *) echo "HOTPLUG-BLK-DEL $d";; esac; done
    for d in $N; do case " $N0 " in *" $d "*) ;; *)
      echo "HOTPLUG-NET-ADD $d $(cat /sys/class/net/$d/address 2>/dev/null)"
      ( ip link set "$d" up
        if udhcpc -i "$d" -s /etc/udhcpc.script -n -q -t 8 -T 1 >/tmp/udhcpc-$d.log 2>&1; then
          grep DHCP-LEASE /tmp/udhcpc-$d.log | sed "s/\$/ iface=$d/"
        else echo "GUEST-DHCP-FAILED iface=$d"; fi ) & ;;
      esac; done
    for d in $N0; do case " $N " in *" $d "*) ;; *) echo "HOTPLUG-NET-DEL $d";; esac; done
    [ "$C" != "$C0" ] && echo "HOTPLUG-CPU online=$C"
    [ "$M" != "$M0" ] && echo "HOTPLUG-MEM memtotal_kb=$M"
    B0=$B; N0=$N; C0=$C; M0=$M
  done
fi
echo "GUEST-POWEROFF $(up)"
sync
poweroff -f
EOF
chmod 755 "$1"
}
write_udhcpc() {
cat > "$1" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      gw=${router%% *}; ip route replace default via "$gw" dev "$interface"; echo "$gw" > /tmp/router
    fi
    echo "DHCP-LEASE $ip/$subnet router=$router lease=$lease" ;;
esac
exit 0
EOF
chmod 755 "$1"
}

populate_busybox() {  # $1 = root dir
  local r=$1
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib/modules,newroot}
  cp "$BUSYBOX" "$r/bin/busybox"
  # one symlink per applet, into the directory busybox itself would use
  "$BUSYBOX" --list-full | while read -r p; do
    [ -e "$r/$p" ] || ln -s /bin/busybox "$r/$p"
  done
  write_udhcpc "$r/etc/udhcpc.script"
  echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"
  echo 'root:x:0:' > "$r/etc/group"
}

# ------------------------------------------------------------- initramfs ----
rm -rf initramfs-root && mkdir initramfs-root
populate_busybox initramfs-root
write_init initramfs-root/init
echo initramfs > initramfs-root/etc/kumo-stage
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/virtio/virtio_mmio \
         drivers/block/virtio_blk net/core/failover drivers/net/net_failover drivers/net/virtio_net \
         drivers/virtio/virtio_balloon drivers/char/hw_random/virtio-rng drivers/scsi/scsi_common \
         drivers/scsi/scsi_mod drivers/scsi/sd_mod drivers/cdrom/cdrom drivers/scsi/sr_mod \
         drivers/scsi/virtio_scsi drivers/ata/libata drivers/ata/ata_piix drivers/acpi/button \
         drivers/input/evdev; do
  f=$(ls "$MODDIR/$m".ko* 2>/dev/null | head -1 || true)
  [ -n "$f" ] || continue           # built in (=y) or absent: nothing to copy
  case "$f" in
    *.ko.xz)  xz -dc "$f"   > "initramfs-root/lib/modules/$(basename "$m").ko" ;;
    *.ko.zst) zstd -dcq "$f" > "initramfs-root/lib/modules/$(basename "$m").ko" ;;
    *.ko.gz)  gzip -dc "$f" > "initramfs-root/lib/modules/$(basename "$m").ko" ;;
    *)        cp "$f" "initramfs-root/lib/modules/" ;;
  esac
done
( cd initramfs-root && find . -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --owner=0:0 --quiet ) | gzip -9 > initramfs.cpio.gz

if [ "${VMLINUX:-0}" = 1 ]; then  # Debian's cloud kernel is LZ4 (legacy frame, magic 02 21 4c 18)
  off=$(LC_ALL=C grep -abo -m1 -P '\x02\x21\x4c\x18' vmlinuz | head -1 | cut -d: -f1)
  tail -c +$((off + 1)) vmlinuz | lz4 -dc > vmlinux 2>/dev/null || true   # rc 1: trailing data, expected
  readelf -n vmlinux 2>/dev/null | grep -q 0x00000012 || { echo "vmlinux: no PVH entry note" >&2; exit 1; }
fi
ls -la "$OUT"/vmlinuz "$OUT"/initramfs.cpio.gz
if [ -n "$ROOTFS_SIZE" ]; then
# ------------------------------------------------------ ext4 root + qcow2 ----
rm -rf rootfs-root && mkdir rootfs-root
populate_busybox rootfs-root
write_init rootfs-root/sbin/init.kumo
rm -f rootfs-root/sbin/init && ln -s init.kumo rootfs-root/sbin/init
echo rootfs > rootfs-root/etc/kumo-stage
echo "built $(date -u +%FT%TZ) kernel $KVER" > rootfs-root/etc/kumo-build
rm -f rootfs.raw base.qcow2 overlay.qcow2
# -d populates the fs from a directory without mounting (e2fsprogs >= 1.43);
# -E root_owner makes / owned by root even when run unprivileged.
mkfs.ext4 -q -F -L kumo-root -E root_owner=0:0 -d rootfs-root rootfs.raw "$ROOTFS_SIZE"
qemu-img convert -f raw -O qcow2 rootfs.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
ls -la "$OUT"/rootfs.raw "$OUT"/base.qcow2 "$OUT"/overlay.qcow2
fi
cat <<EOT

Boot (prints GUEST-UP ... GUEST-POWEROFF on ttyS0, then QEMU exits; ~2.5 s with TCG on 2 cores).
TCG is the measured-working default here; use -accel kvm only where a probe boot succeeds
(see kvm-feasibility.md: on a PVM /dev/kvm stock kernels fail or are far slower than TCG):
  timeout 60 qemu-system-x86_64 -accel tcg -m 256 -smp 1 -display none -serial stdio -no-reboot \\
    -kernel $OUT/vmlinuz -initrd $OUT/initramfs.cpio.gz -append 'console=ttyS0 quiet panic=-1'
  with the disk: append ' root=/dev/vda' and add
    -drive file=$OUT/overlay.qcow2,if=none,id=d0,format=qcow2 -device virtio-blk-pci,drive=d0
EOT
