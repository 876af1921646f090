"""The machine as a guest sees it, under each accelerator (kvm only where
/dev/kvm opens, else skipped with the reason; the nested KVM lane runs it
for real): test guests
(tests/guests, ELF, 64-bit) booted with -kernel, their serial output,
and the run state driving the vCPU: -S holds it, cont starts it, stop
pauses it, system_reset restarts the guest; a guest fault stops the VM in
internal-error while molt keeps serving QMP."""

import os
import subprocess
import time

import pytest

from molt_harness import ACCEL_NOTICE, errors, guest, kvm_usable, run_molt


def wait_for_text(path: str, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    data = ''
    while time.monotonic() < deadline:
        if os.path.exists(path):
            data = open(path, errors='replace', newline='').read()
            if text in data:
                return data
        time.sleep(0.02)
    raise TimeoutError('%r not in serial output %r' % (text, data))


def test_hello_guest_runs_and_reports(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-kernel', guest('hello'), '-serial', 'file:' + out)
    text = wait_for_text(out, 'molt guest: PASS')
    assert 'molt guest: hello\r\n' in text
    assert 'sum 1..1000 = 500500' in text
    q = m.connect()
    assert q.ok('query-status')['status'] == 'running'


def test_first_guest_writes_one_byte_at_once(start, tmpdir_short, accel):
    """The bench's first-instruction guest: '!' from its third
    instruction, then nothing more (it halts)."""
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-kernel', guest('first'), '-serial', 'file:' + out)
    wait_for_text(out, '!')
    time.sleep(0.2)
    assert open(out, newline='').read() == '!'
    assert m.connect().ok('query-status')['status'] == 'running'


def test_S_holds_the_vcpu_until_cont(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-S', '-kernel', guest('hello'), '-serial', 'file:' + out)
    time.sleep(0.3)
    assert open(out, newline='').read() == ''
    q = m.connect()
    q.ok('cont')
    wait_for_text(out, 'molt guest: PASS')


def test_system_reset_restarts_the_guest(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-kernel', guest('hello'), '-serial', 'file:' + out)
    wait_for_text(out, 'molt guest: PASS')
    q = m.connect()
    q.ok('system_reset')
    assert q.wait_event('RESET')['data']['reason'] == 'host-qmp-system-reset'
    deadline = time.monotonic() + 10
    while open(out, newline='').read().count('molt guest: PASS') < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert open(out, newline='').read().count('molt guest: hello') == 2


def test_stop_and_cont_with_a_guest(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-S', '-kernel', guest('hello'), '-serial', 'file:' + out)
    q = m.connect()
    for _ in range(20):
        q.ok('cont')
        q.ok('stop')
    q.ok('cont')
    wait_for_text(out, 'molt guest: PASS')
    assert open(out, newline='').read().count('molt guest: hello') == 1


def test_guest_fault_stops_the_vm_not_molt(start, tmpdir_short):
    """tcg: Unicorn reports the access to memory outside the page tables
    as a fault, and the VM stops in internal-error."""
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', 'tcg', '-kernel', guest('fault'), '-serial', 'file:' + out)
    wait_for_text(out, 'about to fault')
    q = m.connect()
    deadline = time.monotonic() + 10
    while q.ok('query-status')['status'] != 'internal-error':
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert 'still running' not in open(out, newline='').read()
    # molt is still there; a reset brings the VM back to prelaunch.
    assert q.ok('query-name') == {}
    r = q.cmd('cont')
    assert r['error']['desc'] == 'Resetting the Virtual Machine is required'
    q.ok('system_reset')
    assert q.ok('query-status')['status'] == 'prelaunch'
    q.ok('quit')
    assert m.wait() == 0
    assert 'molt: vCPU 0: guest fault at RIP' in m.proc.stderr.read()


def test_kvm_triple_fault_resets_the_guest(start, tmpdir_short):
    """kvm: the fault guest's access to an unmapped address, with no IDT,
    is a triple fault; a PC resets then, and so does molt (as QEMU): RESET
    (guest-reset), and the guest starts over."""
    if not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', 'kvm', '-kernel', guest('fault'), '-serial', 'file:' + out)
    q = m.connect()
    e = q.wait_event('RESET', timeout=30)
    assert e['data'] == {'guest': True, 'reason': 'guest-reset'}
    wait_for_text(out, 'about to fault\r\nmolt guest: about to fault', timeout=30)
    assert q.ok('query-status')['status'] == 'running'


def test_kvm_triple_fault_with_no_reboot_shuts_down(start, tmpdir_short):
    if not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    out = os.path.join(tmpdir_short, 'serial.txt')
    # -S: connected before the guest runs (it faults at once, and molt
    # then exits); the event must still reach the client before the exit.
    m = start('-accel', 'kvm', '-S', '-no-reboot', '-kernel', guest('fault'),
              '-serial', 'file:' + out)
    q = m.connect()
    q.ok('cont')
    e = q.wait_event('SHUTDOWN', timeout=30)
    assert e['data'] == {'guest': True, 'reason': 'guest-reset'}
    assert m.wait(30) == 0
    assert open(out, newline='').read().count('about to fault') == 1


def test_bad_kernel_leaves_nothing(tmpdir_short):
    sock = os.path.join(tmpdir_short, 'q.sock')
    r = run_molt('-qmp', 'unix:%s,server=on,wait=off' % sock, '-kernel', '/etc/hostname')
    assert r.returncode == 1
    assert errors(r.stderr) == "molt: -kernel: '/etc/hostname' is not an ELF file\n"
    assert os.listdir(tmpdir_short) == []


def test_kernel_too_big_for_ram(tmpdir_short):
    r = run_molt('-m', '1', '-kernel', guest('hello'))
    assert r.returncode == 1
    assert "does not fit in guest RAM (1 MiB)" in r.stderr


def hugetlb_free_bytes() -> int:
    info = dict(line.split(':', 1) for line in open('/proc/meminfo'))
    return int(info['HugePages_Free'].split()[0]) * int(info['Hugepagesize'].split()[0]) * 1024


def test_hugetlb_shortage_fails_at_start(tmpdir_short):
    """hugetlb memory that the host does not have is refused when the
    backend is created (it was mapped MAP_NORESERVE, and molt died of
    SIGBUS when it loaded the guest)."""
    if hugetlb_free_bytes() >= 64 << 20:
        pytest.skip('this host has 64 MiB of free hugetlb pages')
    r = run_molt('-m', '64M', '-object', 'memory-backend-memfd,id=m,size=64M,hugetlb=on',
                 '-machine', 'memory-backend=m', '-kernel', guest('hello'))
    assert r.returncode == 1, r
    assert r.stderr in ("molt: -object m: memory-backend-memfd 'm': cannot map 64 MiB: "
                        "Cannot allocate memory\n",
                        "molt: -object m: memory-backend-memfd 'm': memfd_create: "
                        "Invalid argument\n")   # no hugetlbfs at all


def test_dirtier_passes_its_self_check(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    start('-accel', accel, '-m', '64M', '-kernel', guest('dirtier'), '-append', 'rounds=3',
          '-serial', 'file:' + out)
    text = wait_for_text(out, 'dirtier: PASS', timeout=60)
    assert 'dirtier: round 3 ok' in text
    pages = int(text.split('dirtier: ')[1].split(' pages')[0])
    assert pages > 15000   # 64 MiB less the image and the low 1 MiB


def test_dirtier_catches_a_corrupted_page(start, tmpdir_short, accel):
    """The dirtier's check can fail: RAM is a shared file, the test
    changes one page's round number behind the guest's back."""
    ram = os.path.join('/dev/shm', 'molt-test-%d' % os.getpid())
    out = os.path.join(tmpdir_short, 'serial.txt')
    try:
        start('-accel', accel, '-m', '16M',
              '-object', 'memory-backend-file,id=ram,size=16M,share=on,mem-path=' + ram,
              '-machine', 'memory-backend=ram', '-kernel', guest('dirtier'),
              '-serial', 'file:' + out)
        text = wait_for_text(out, 'round 2 ok', timeout=60)
        first = int(text.split('pages from ')[1].split()[0], 16)
        page = first + 100 * 4096
        with open(ram, 'r+b') as f:
            f.seek(page + 8)           # struct page_head.round
            f.write((10 ** 9).to_bytes(8, 'little'))
        text = wait_for_text(out, 'dirtier: FAIL', timeout=60)
        # The guest writes the line a byte at a time (slowly under nested
        # KVM): wait for all of it.
        text = wait_for_text(out, 'page 100: round = 0x000000003b9aca00\r\n')
        assert text.count('dirtier: FAIL') == 1
    finally:
        if os.path.exists(ram):
            os.unlink(ram)


def test_dumpdtb(tmpdir_short):
    dtb = os.path.join(tmpdir_short, 'molt.dtb')
    r = run_molt('-m', '256M', '-kernel', guest('hello'), '-append', 'rounds=7 x',
                 '-machine', 'dumpdtb=' + dtb)
    assert r.returncode == 0, r.stderr
    dts = subprocess.run(['dtc', '-I', 'dtb', '-O', 'dts', dtb], capture_output=True, text=True)
    assert dts.returncode == 0, dts.stderr
    assert dts.stderr == ''   # no dtc warnings
    assert 'reg = <0x00 0x00 0x00 0x10000000>;' in dts.stdout
    assert 'bootargs = "rounds=7 x";' in dts.stdout
    assert 'compatible = "ns16550a";' in dts.stdout
    assert 'interrupts = <0x04 0x00>;' in dts.stdout   # COM1 on IRQ 4, edge
    assert 'interrupt-controller;' in dts.stdout


def test_stop_pauses_a_busy_guest(start, tmpdir_short, accel):
    """stop must take the vCPU out of guest code (the kick), cont must
    let it go on from where it was."""
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-m', '16M', '-kernel', guest('dirtier'),
              '-serial', 'file:' + out)
    wait_for_text(out, 'round 2 ok', timeout=60)
    q = m.connect()
    q.ok('stop')
    time.sleep(0.2)
    frozen = open(out, newline='').read()
    time.sleep(0.5)
    assert open(out, newline='').read() == frozen
    q.ok('cont')
    last = frozen.count(' ok')
    deadline = time.monotonic() + 60
    while open(out, newline='').read().count(' ok') < last + 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert 'FAIL' not in open(out, newline='').read()


def test_cpu_state_over_qmp(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-S', '-kernel', guest('hello'), '-serial', 'file:' + out)
    q = m.connect()
    s = q.ok('x-query-cpu-state')
    assert s['rip'] == 0x100000 and s['rdi'] == 0x80000     # entry, device tree
    assert s['cs']['l'] is True
    q.ok('cont')
    wait_for_text(out, 'molt guest: PASS')
    time.sleep(0.1)
    s = q.ok('x-query-cpu-state')
    assert 0x100000 < s['rip'] < 0x110000                   # halted inside _start
    assert q.ok('query-status')['status'] == 'running'      # read, then resumed
    r = start('-S').connect().cmd('x-query-cpu-state')
    assert 'no guest was given' in r['error']['desc']


def test_machine_state_over_qmp(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-S', '-kernel', guest('hello'), '-serial', 'file:' + out)
    q = m.connect()
    s = q.ok('x-query-machine-state')
    assert s['cpu']['rip'] == 0x100000
    assert s['serial']['dll'] == 0x0c and s['serial']['rx'] == []   # power-on: 9600 baud
    assert s['nets'] == []
    q.ok('cont')
    wait_for_text(out, 'molt guest: PASS')
    s = q.ok('x-query-machine-state')
    # serial_init(): 115200 baud, 8N1, FIFOs on, DTR and RTS.
    assert (s['serial']['dll'], s['serial']['lcr'], s['serial']['fcr'], s['serial']['mcr']) == \
        (1, 3, 0xc7, 3)
    assert q.ok('query-status')['status'] == 'running'      # read, then resumed
    assert 'cpu' not in start('-S').connect().ok('x-query-machine-state')


def test_serial_input_from_stdio(tmpdir_short, accel):
    """-serial stdio: what molt reads on stdin reaches the guest's UART
    (bytes sent before the guest initialises its FIFO are dropped by the
    FIFO reset, as on hardware, so the test waits for "ready")."""
    from molt_harness import MOLT
    qmp = os.path.join(tmpdir_short, 'q.sock')
    p = subprocess.Popen([MOLT, '-accel', accel, '-kernel', guest('console'), '-serial', 'stdio',
                          '-qmp', 'unix:%s,server=on,wait=off' % qmp],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b'console: ready\r\n'
        p.stdin.write(b'hello, molt!q')
        p.stdin.flush()
        out = b''
        while b'bye' not in out:
            chunk = p.stdout.read1(4096)
            assert chunk, out
            out += chunk
        assert out.startswith(b'HELLO, MOLT!')
    finally:
        p.kill()
        p.wait()


def test_without_kvm_the_default_is_tcg_with_a_notice(tmpdir_short):
    """No -accel: kvm where /dev/kvm opens, else tcg and one line saying so."""
    out = os.path.join(tmpdir_short, 'serial.txt')
    r = run_molt('-kernel', guest('hello'), '-serial', 'file:' + out,
                 '-S', '-machine', 'dumpdtb=' + os.path.join(tmpdir_short, 'x.dtb'))
    assert r.returncode == 0, r.stderr
    if kvm_usable():
        assert r.stderr == ''
    else:
        assert r.stderr == ACCEL_NOTICE
