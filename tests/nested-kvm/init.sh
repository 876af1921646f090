#!/bin/busybox sh
# /init of the nested KVM lane's guest (L1), a busybox initramfs that run.py
# builds around this file: it loads kvm-amd, tun and virtio-9p (the modules
# listed in /lane/modules, in load order), mounts the host's root, exported
# read-only over virtio-9p, under a tmpfs overlay at /host (writes stay in
# L1's RAM, the host is never changed), gives it this kernel's /dev, /proc
# and /sys, and runs the shell command in /lane/cmd chrooted there: the host's
# tools and build tree at their own paths, with a real /dev/kvm.  The
# command's exit status is printed as "NESTED-RC=N", then L1 powers off.
# "NESTED-STAGE name" lines mark the steps for run.py's timings.
/bin/busybox --install -s /bin
export PATH=/bin

stage() { echo "NESTED-STAGE $1 uptime=$(cut -d' ' -f1 /proc/uptime)"; }
finish() { echo "NESTED-RC=$1"; poweroff -f; sleep 10; }
fail() { echo "NESTED: $*"; finish 2; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stage init
while read -r m; do
    insmod "/lane/$m" || fail "insmod $m failed"
done < /lane/modules
[ -c /dev/kvm ] || fail "/dev/kvm did not appear after insmod kvm-amd"
stage modules

mkdir -p /hostro /rw /host
mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 hostroot /hostro ||
    fail "cannot mount the host's root over virtio-9p"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/hostro,upperdir=/rw/upper,workdir=/rw/work overlay /host ||
    fail "cannot mount the overlay on the host's root"
for d in dev proc sys; do
    mount --bind "/$d" "/host/$d" || fail "cannot bind /$d into /host"
done
mkdir -p /host/dev/shm /host/dev/pts
mount -t tmpfs -o mode=1777 shm /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs -o mode=0755 run /host/run   # the host's pid files and sockets mean nothing here
stage host-root

chroot /host /bin/sh -c "$(cat /lane/cmd)"
finish $?
