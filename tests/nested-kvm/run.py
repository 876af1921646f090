#!/usr/bin/env python3
"""The nested KVM lane (DESIGN.md "Verification lanes"; reference/accel.md
section A): runs molt's KVM tests against a real KVM on machines without
/dev/kvm.  It boots Debian's kernel in `qemu-system-x86_64 -accel tcg
-cpu max` (TCG emulates AMD SVM, so kvm-amd loads in that guest, "L1")
with a busybox initramfs built here in a temporary directory: init.sh as
/init, plus the kvm-amd, tun, virtio-9p and overlay modules with their
modules.dep closure.  L1 mounts this host's root (read-only virtio-9p under
a RAM overlay) and runs inside.sh chrooted into it, so the build tree,
Python and pytest are the host's, at the same paths.  The console is
echoed with host timestamps; the verdict comes from its marker lines.

The lane passes only if the command exited 0, at least one unit and one
integration KVM test passed, and nothing was skipped.  Its last line is
"# molt-tests: N passed, N failed, N skipped", the inner tests' totals
(scripts/test-summary.py adds them to `make check`'s).  Exit status 0
(pass), 1 (fail), or 77 (Meson's skip) with the reason, only when
qemu-system-x86_64 or the kernel is missing or qemu cannot start.

Environment: as for the integration lane (MOLT, MOLT_GUESTS, MOLT_KEYVAL,
MOLTCTL) plus MOLT_TEST_HW (the hw doctest executable); optional
NESTED_KVM_TIMEOUT (seconds for the whole guest run, default 600) and
NESTED_KVM_KVER (the kernel version, default the newest with kvm-amd).
"""

import gzip
import lzma
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
MODULES = ['kvm-amd', 'tun', 'bridge', 'virtio_pci', '9pnet_virtio', '9p', 'overlay']
FORWARDED = ['MOLT', 'MOLT_GUESTS', 'MOLT_KEYVAL', 'MOLTCTL', 'MOLT_TEST_HW']
TIMEOUT = int(os.environ.get('NESTED_KVM_TIMEOUT', '600'))
DOCTEST = re.compile(r'\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|'
                     r'\s*(\d+) failed \|\s*(\d+) skipped')
PYTEST = re.compile(r'^# molt-tests: (\d+) passed, (\d+) failed, (\d+) skipped$')
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


class Skip(Exception):
    """The lane cannot run here (Meson skip)."""


class SetupError(Exception):
    """The lane could run here but something it needs is missing or broken."""


def find_kernel() -> Tuple[str, str]:
    """(kernel image, modules dir) of the newest kernel that has both."""
    kvers = [os.environ['NESTED_KVM_KVER']] if 'NESTED_KVM_KVER' in os.environ else sorted(
        os.listdir('/lib/modules') if os.path.isdir('/lib/modules') else [],
        key=lambda v: [int(x) if x.isdigit() else 0 for x in re.split(r'[.-]', v)], reverse=True)
    for kver in kvers:
        image, moddir = '/boot/vmlinuz-' + kver, '/lib/modules/' + kver
        if os.access(image, os.R_OK) and os.path.exists(moddir + '/modules.dep'):
            return image, moddir
    raise Skip('no readable /boot/vmlinuz-* with /lib/modules/*/modules.dep '
               '(install linux-image-amd64)')


def module_closure(moddir: str, wanted: List[str]) -> List[str]:
    """Paths (relative to moddir) of the wanted modules and what they need,
    dependencies first.  Modules built into the kernel are left out."""
    def key(path: str) -> str:
        return os.path.basename(path).split('.ko')[0].replace('-', '_')
    deps: Dict[str, Tuple[str, List[str]]] = {}
    with open(moddir + '/modules.dep', encoding='utf-8') as fp:
        for line in fp:
            path, _, rest = line.partition(':')
            deps[key(path)] = (path, rest.split())
    builtin = set()
    if os.path.exists(moddir + '/modules.builtin'):
        with open(moddir + '/modules.builtin', encoding='utf-8') as fp:
            builtin = {key(line.strip()) for line in fp}
    order: List[str] = []
    seen = set(builtin)

    def visit(name: str) -> None:
        if name in seen:
            return
        if name not in deps:
            raise SetupError('module %s is not in %s/modules.dep' % (name, moddir))
        seen.add(name)
        path, needs = deps[name]
        for dep in needs:
            visit(key(dep))
        order.append(path)
    for name in wanted:
        visit(key(name))
    return order


def read_module(path: str) -> bytes:
    """A module file's contents, decompressed (busybox insmod wants a plain .ko)."""
    if path.endswith('.zst'):
        if shutil.which('zstd') is None:
            raise SetupError('%s needs zstd to decompress (apt-get install zstd)' % path)
        return subprocess.run(['zstd', '-dc', path], check=True, stdout=subprocess.PIPE).stdout
    with open(path, 'rb') as fp:
        data = fp.read()
    if path.endswith('.xz'):
        return lzma.decompress(data)
    return gzip.decompress(data) if path.endswith('.gz') else data


def cpio(entries: List[Tuple[str, int, bytes]]) -> bytes:
    """An uncompressed "newc" archive (the kernel's initramfs format,
    Documentation/driver-api/early-userspace/buffer-format.rst) of
    (name, mode, data) entries; a character device's data is b'major,minor'."""
    out = bytearray()

    def pad() -> None:
        out.extend(b'\0' * (-len(out) % 4))
    for ino, (name, mode, data) in enumerate(entries + [('TRAILER!!!', 0, b'')], 1):
        rdev = [int(x) for x in data.split(b',')] if stat.S_ISCHR(mode) else [0, 0]
        body = b'' if stat.S_ISCHR(mode) or stat.S_ISDIR(mode) else data
        fields = [ino, mode, 0, 0, 1, 0, len(body), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        out.extend(b'070701' + b''.join(b'%08X' % f for f in fields) + name.encode() + b'\0')
        pad()
        out.extend(body)
        pad()
    return bytes(out)


def build_initramfs(path: str, moddir: str, cmd: str) -> None:
    busybox = shutil.which('busybox', path='/bin:/usr/bin') or ''
    if not busybox or subprocess.run(['ldd', busybox], capture_output=True).returncode == 0:
        raise SetupError('no static busybox (install busybox-static: scripts/install-deps.sh)')
    with open(busybox, 'rb') as fp:
        busybox_bin = fp.read()
    with open(os.path.join(HERE, 'init.sh'), 'rb') as fp:
        init = fp.read()
    d, x, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    entries = [(n, d, b'') for n in ('bin', 'dev', 'proc', 'sys', 'lane')]
    entries += [('dev/console', stat.S_IFCHR | 0o600, b'5,1'), ('init', x, init),
                ('bin/busybox', x, busybox_bin), ('lane/cmd', f, cmd.encode())]
    names = []
    for rel in module_closure(moddir, MODULES):
        name = os.path.basename(rel).split('.ko')[0] + '.ko'
        entries.append(('lane/' + name, f, read_module(os.path.join(moddir, rel))))
        names.append(name)
    entries.append(('lane/modules', f, '\n'.join(names).encode() + b'\n'))
    with open(path, 'wb') as fp:
        fp.write(cpio(entries))


def qemu_problem(qemu: Optional[str]) -> str:
    """Why qemu-system-x86_64 cannot run a TCG machine here ('' if it can)."""
    if qemu is None:
        return 'qemu-system-x86_64 is not installed (qemu-system-x86)'
    qmp = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
    try:
        r = subprocess.run([qemu, '-accel', 'tcg', '-machine', 'none', '-nodefaults',
                            '-no-user-config', '-display', 'none', '-qmp', 'stdio'],
                           input=qmp, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 'qemu-system-x86_64 cannot start: %s' % err
    if r.returncode != 0 or '"return"' not in r.stdout:
        return 'qemu-system-x86_64 cannot start: %s' % (r.stderr.strip() or r.returncode)
    return ''


def guest_command() -> str:
    """The shell command L1 runs in the host's root: inside.sh with our env."""
    env = {k: os.environ[k] for k in FORWARDED if k in os.environ}
    missing = [k for k in FORWARDED if k not in env]
    if missing:
        raise SetupError('environment lacks %s (run through meson test)' % ', '.join(missing))
    env['MOLT_INTEGRATION'] = os.path.normpath(os.path.join(HERE, '..', 'integration'))
    for path in list(env.values()) + [HERE]:
        if not os.path.isabs(path) or path.startswith(('/dev/', '/proc/', '/sys/', '/run/')):
            raise SetupError('%s is not visible in the guest (absolute, outside /dev, '
                             '/proc, /sys and /run)' % path)
    # For work on one test: NESTED_KVM_SELECT narrows pytest's -k (the
    # lane itself always runs every KVM test).
    if os.environ.get('NESTED_KVM_SELECT'):
        env['NESTED_KVM_SELECT'] = os.environ['NESTED_KVM_SELECT']
    exports = ''.join('export %s=%s; ' % (k, shlex.quote(v)) for k, v in sorted(env.items()))
    return exports + 'exec /bin/sh ' + shlex.quote(os.path.join(HERE, 'inside.sh'))


def boot(qemu: str, kernel: str, initramfs: str) -> Tuple[List[str], Dict[str, float], float]:
    """Runs L1, echoing its console with host timestamps.  Returns the console
    lines, the host time of each NESTED-STAGE, and the total time."""
    argv = ['timeout', '--foreground', '-k', '5', str(TIMEOUT), qemu,
            '-accel', 'tcg', '-cpu', 'max', '-m', '3G', '-smp', '1',
            '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
            '-serial', 'stdio', '-monitor', 'none',
            '-kernel', kernel, '-initrd', initramfs,
            '-append', 'console=ttyS0 panic=-1 quiet loglevel=4',
            '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
            '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot']
    lines: List[str] = []
    stages: Dict[str, float] = {}
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            now = time.monotonic() - t0
            line = ANSI.sub('', raw.decode('utf-8', 'replace').rstrip('\r\n').replace('\r', ''))
            lines.append(line)
            print('[%7.2fs] %s' % (now, line), flush=True)
            m = re.match(r'NESTED-STAGE (\S+)', line)
            if m:
                stages[m.group(1)] = now
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == 124:
        lines.append('NESTED: the guest run timed out after %d s' % TIMEOUT)
    return lines, stages, time.monotonic() - t0


def verdict(lines: List[str]) -> Tuple[List[int], List[str]]:
    """[passed, failed, skipped] of the inner tests, and what went wrong."""
    problems = [line[len('NESTED: '):] for line in lines if line.startswith('NESTED: ')]
    rc = [int(m.group(1)) for m in (re.match(r'NESTED-RC=(\d+)$', x) for x in lines) if m]
    unit = [m for m in (DOCTEST.search(x) for x in lines) if m]
    pytest = [m for m in (PYTEST.match(x) for x in lines) if m]
    totals = [0, 0, 0]
    if not rc:
        problems.append('the guest did not report the command\'s exit status')
    elif rc[-1] != 0:
        problems.append('the guest reported NESTED-RC=%d' % rc[-1])
    if not unit or int(unit[-1].group(2)) == 0:
        problems.append('no KVM unit test case passed')
    else:
        # doctest counts the cases its filter left out as skipped; those that
        # ran are the passed and the failed ones.
        totals[0] += int(unit[-1].group(2))
        totals[1] += int(unit[-1].group(3))
    if not pytest or int(pytest[-1].group(1)) == 0:
        problems.append('no KVM integration test passed')
    else:
        for i in range(3):
            totals[i] += int(pytest[-1].group(i + 1))
        if totals[2]:
            problems.append('%d KVM integration tests skipped (the lane must run them all)'
                            % totals[2])
    return totals, problems


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # so boot() stops qemu
    try:
        qemu = shutil.which('qemu-system-x86_64')
        kernel, moddir = find_kernel()
        problem = qemu_problem(qemu)
        if problem or qemu is None:
            raise Skip(problem)
        with tempfile.TemporaryDirectory(prefix='molt-nested-kvm-') as tmp:
            initramfs = os.path.join(tmp, 'initramfs.cpio')
            build_initramfs(initramfs, moddir, guest_command())
            print('nested-kvm: %s, %s modules, initramfs %d KiB' % (
                kernel, moddir, os.path.getsize(initramfs) // 1024), flush=True)
            lines, stages, total = boot(qemu, kernel, initramfs)
    except Skip as err:
        print('nested-kvm: skipped: %s' % err)
        return SKIP
    except (SetupError, OSError, subprocess.CalledProcessError) as err:
        print('nested-kvm: FAIL: %s' % err)
        print('# molt-tests: 0 passed, 1 failed, 0 skipped')
        return 1
    totals, problems = verdict(lines)
    marks = ' '.join('%s %.1fs' % kv for kv in stages.items())
    print('nested-kvm: host seconds at each stage: %s; qemu total %.1fs' % (marks, total))
    for p in problems:
        print('nested-kvm: FAIL: %s' % p)
    # pytest's short summary again, without the console timestamps, so that
    # a reader of the lane's end (CI) sees which tests failed and why.
    for line in lines:
        if re.match(r'(FAILED|ERROR) \S+::', line):
            print(line)
    if problems and totals[1] == 0:
        totals[1] = 1
    print('# molt-tests: %d passed, %d failed, %d skipped' % tuple(totals))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
