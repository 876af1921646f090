"""A Linux guest under molt (kvm only: tcg injects no interrupts): Debian's
kernel with a busybox initramfs (linux_guest.py) boots to a shell on the
serial console, finds its virtio-net device through molt's ACPI tables,
answers ping from the host side of a real TAP inside a network namespace
this test creates, runs a command typed on the console, and goes on doing
both after a live migration to another molt process.  Where /dev/kvm does
not open, the nested KVM lane runs this."""

import os
import subprocess
import threading
import time

import pytest

import linux_guest
from molt_harness import MOLT, Qmp, in_ns, kvm_usable, time_scale, wait_for_socket

MAC = '52:54:00:12:34:56'


class Console:
    """Collects what the guest prints (molt's stdout, -serial stdio)."""

    def __init__(self, stream) -> None:
        self.text = ''
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        while True:
            data = os.read(stream.fileno(), 4096)
            if not data:
                return
            with self.lock:
                self.text += data.decode('utf-8', 'replace')

    def wait_for(self, mark: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout * time_scale()
        while time.monotonic() < deadline:
            with self.lock:
                if mark in self.text:
                    return self.text
            time.sleep(0.05)
        raise TimeoutError('%r not on the console; it has:\n%s' % (mark, self.text[-3000:]))


def hardware_assisted() -> bool:
    """Whether the CPU has VMX or SVM: a /dev/kvm without them (a software
    one such as PVM) runs guest code far too slowly to boot Linux."""
    with open('/proc/cpuinfo') as f:
        flags = f.read().split()
    return 'vmx' in flags or 'svm' in flags


def start_linux(netns: str, tmpdir: str, tap: str, qmp: str, *extra: str) -> subprocess.Popen:
    kernel, _ = linux_guest.find_kernel()
    initrd = os.path.join(tmpdir, 'initramfs.cpio')
    if not os.path.exists(initrd):
        initrd = linux_guest.build_initramfs(tmpdir, '10.9.0.2/24')
    proc = subprocess.Popen(
        ['ip', 'netns', 'exec', netns, MOLT, '-accel', 'kvm', '-m', '256M',
         '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1',
         '-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no' % tap,
         '-device', 'virtio-net-device,netdev=n0,mac=' + MAC,
         '-serial', 'stdio', '-qmp', 'unix:%s,server=on,wait=off' % qmp, *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_socket(qmp, proc)
    return proc


def skip_unless_linux_runs() -> None:
    if not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    if not hardware_assisted():
        pytest.skip('/dev/kvm here has no VMX/SVM underneath (too slow to boot Linux); '
                    'the nested KVM lane runs this')
    reason = linux_guest.unusable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def linux(netns, tmpdir_short):
    skip_unless_linux_runs()
    qmp = os.path.join(tmpdir_short, 'qmp.sock')
    proc = start_linux(netns, tmpdir_short, 'molttap0', qmp)
    try:
        yield proc, Console(proc.stdout), qmp
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kvm_linux_boots_to_a_shell_and_answers_ping(netns, linux):
    proc, console, qmp = linux
    # The mark and eth0's MAC, one line (waiting for the mark alone may
    # read the line half-written): virtio-net found, with -device mac=.
    console.wait_for(linux_guest.READY_MARK + ' ' + MAC, 120)
    for cmd in (['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0'],
                ['ip', 'link', 'set', 'molttap0', 'up']):
        r = in_ns(netns, *cmd)
        assert r.returncode == 0, r.stderr
    r = in_ns(netns, linux_guest.BUSYBOX, 'ping', '-c', '5', '-W', '5', '10.9.0.2')
    assert r.returncode == 0, r.stdout + r.stderr
    assert '5 packets received' in r.stdout
    # The shell reads the console (UART receive interrupts) and answers.
    proc.stdin.write(b'echo $((6 * 7))-from-the-shell\n')
    proc.stdin.flush()
    console.wait_for('42-from-the-shell', 30)
    q = Qmp(qmp)
    assert q.ok('query-status')['status'] == 'running'
    assert 'blocked-reasons' not in q.ok('query-migrate')   # it can migrate
    q.cmd('quit')
    assert proc.wait(10 * time_scale()) == 0


def test_kvm_linux_survives_system_reset(netns, linux):
    proc, console, qmp = linux
    console.wait_for(linux_guest.READY_MARK, 120)
    with console.lock:
        console.text = ''
    q = Qmp(qmp)
    q.ok('system_reset')
    # A fresh power-on: the kernel boots again from the start.  (Shorter
    # waits than the first boot's, which also loads the kernel from disk:
    # a hang is reported with the console's text well inside the nested
    # lane's own limit, instead of ending the lane.)
    console.wait_for('Linux version', 30)
    console.wait_for(linux_guest.READY_MARK, 60)
    q.cmd('quit')
    assert proc.wait(10 * time_scale()) == 0


def test_kvm_linux_migrates_and_goes_on(netns, tmpdir_short):
    """After a live migration the shell on the destination answers the
    console and ping through the destination's own TAP (the host's address
    moves to it): its interrupt controllers, timers, MSRs and FPU state
    moved with it."""
    skip_unless_linux_runs()
    mig = os.path.join(tmpdir_short, 'mig.sock')
    qs, qd = (os.path.join(tmpdir_short, n) for n in ('src.qmp', 'dst.qmp'))
    procs = [start_linux(netns, tmpdir_short, 'molttap0', qs)]
    try:
        src_console = Console(procs[0].stdout)
        src_console.wait_for(linux_guest.READY_MARK, 120)
        src_console.wait_for('eth0: link becomes ready', 60)
        ns_run(netns, ['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0'],
               ['ip', 'link', 'set', 'molttap0', 'up'])
        r = in_ns(netns, linux_guest.BUSYBOX, 'ping', '-c', '5', '-W', '5', '10.9.0.2')
        assert '5 packets received' in r.stdout, r.stdout + r.stderr
        procs.append(start_linux(netns, tmpdir_short, 'molttap1', qd, '-incoming', 'unix:' + mig))
        dst_console = Console(procs[1].stdout)
        d = Qmp(qd)
        deadline = time.monotonic() + 30 * time_scale()
        while d.ok('query-migrate').get('status') != 'setup' and time.monotonic() < deadline:
            time.sleep(0.1)   # until it listens
        q = Qmp(qs)
        q.ok('migrate', {'uri': 'unix:' + mig})
        deadline = time.monotonic() + 120 * time_scale()
        info = q.ok('query-migrate')
        while info.get('status') not in ('completed', 'failed') and time.monotonic() < deadline:
            time.sleep(0.1)
            info = q.ok('query-migrate')
        assert info['status'] == 'completed', info
        assert q.ok('query-status')['status'] == 'postmigrate'
        deadline = time.monotonic() + 30 * time_scale()
        while d.ok('query-status')['status'] != 'running' and time.monotonic() < deadline:
            time.sleep(0.1)
        assert d.ok('query-status')['status'] == 'running'
        procs[1].stdin.write(b'echo $((6 * 7))-after-migration\n')
        procs[1].stdin.flush()
        dst_console.wait_for('42-after-migration', 30)
        ns_run(netns, ['ip', 'addr', 'del', '10.9.0.1/24', 'dev', 'molttap0'],
               ['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap1'],
               ['ip', 'link', 'set', 'molttap1', 'up'])
        r = in_ns(netns, linux_guest.BUSYBOX, 'ping', '-c', '5', '-W', '5', '10.9.0.2')
        assert '5 packets received' in r.stdout, r.stdout + r.stderr + dst_console.text[-2000:]
        assert 'Oops' not in dst_console.text and 'BUG' not in dst_console.text, dst_console.text
        d.cmd('quit')
        assert procs[1].wait(10 * time_scale()) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def ns_run(netns: str, *cmds) -> None:
    for cmd in cmds:
        r = in_ns(netns, *cmd)
        assert r.returncode == 0, (cmd, r.stderr)
