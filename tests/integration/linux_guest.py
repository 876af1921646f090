"""A Linux guest for integration tests: Debian's kernel (/boot/vmlinuz-*)
and a busybox initramfs built here into a temporary directory.

The initramfs's /init mounts the usual file systems, loads virtio-mmio and
virtio-net from the kernel's own modules (with their modules.dep closure),
gives eth0 the address asked for, prints READY_MARK on the console and
runs a shell on it.  Nothing here is committed: the kernel, busybox and
the modules come from Debian's packages (linux-image-amd64,
busybox-static), which scripts/install-deps.sh installs.
"""

import glob
import os
import shutil
import subprocess
from typing import List, Optional, Tuple

READY_MARK = 'MOLT-LINUX-READY'
BUSYBOX = '/bin/busybox'
MODULES = ['virtio_mmio', 'virtio_net']

INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec 0</dev/console 1>/dev/console 2>&1
for m in %(modules)s; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
ip link set lo up
ip link set eth0 up && ip addr add %(address)s dev eth0
echo %(mark)s $(cat /sys/class/net/eth0/address)
exec sh
'''


def find_kernel() -> Tuple[Optional[str], str]:
    """The newest Debian kernel image and its module directory, or None."""
    images = sorted(glob.glob('/boot/vmlinuz-*'))
    for image in reversed(images):
        release = os.path.basename(image)[len('vmlinuz-'):]
        moddir = '/lib/modules/' + release
        if os.path.isdir(moddir):
            return image, moddir
    return None, ''


def unusable_reason() -> str:
    kernel, _ = find_kernel()
    if kernel is None:
        return 'no kernel in /boot with its modules (install linux-image-amd64)'
    if not os.access(BUSYBOX, os.X_OK):
        return 'busybox is not installed (install busybox-static)'
    if shutil.which('cpio') is None:
        return 'cpio is not installed'
    return ''


def module_closure(moddir: str, names: List[str]) -> List[str]:
    """Module paths (relative to moddir) in load order, dependencies first."""
    deps = {}
    with open(os.path.join(moddir, 'modules.dep')) as f:
        for line in f:
            path, _, rest = line.partition(':')
            deps[path] = rest.split()
    by_name = {os.path.basename(p).split('.ko')[0].replace('-', '_'): p for p in deps}
    order: List[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    for n in names:
        if n not in by_name:
            raise RuntimeError('module %s not in %s/modules.dep' % (n, moddir))
        visit(by_name[n])
    return order


def build_initramfs(workdir: str, address: str) -> str:
    """Writes initramfs.cpio into workdir; returns its path."""
    _, moddir = find_kernel()
    root = os.path.join(workdir, 'root')
    for d in ('bin', 'proc', 'sys', 'dev', 'lib/modules', 'tmp'):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, 'bin/busybox'))
    names = []
    for rel in module_closure(moddir, MODULES):
        if not rel.endswith('.ko'):
            raise RuntimeError('compressed module %s: not handled' % rel)
        name = os.path.basename(rel)[:-3]
        shutil.copy(os.path.join(moddir, rel), os.path.join(root, 'lib/modules', name + '.ko'))
        names.append(name)
    init = os.path.join(root, 'init')
    with open(init, 'w') as f:
        f.write(INIT % {'modules': ' '.join(names), 'address': address, 'mark': READY_MARK})
    os.chmod(init, 0o755)
    out = os.path.join(workdir, 'initramfs.cpio')
    files = subprocess.run(['find', '.'], cwd=root, check=True, capture_output=True).stdout
    with open(out, 'wb') as f:
        subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet'], cwd=root, input=files, stdout=f,
                       check=True)
    return out
