"""calc-dirty-rate and query-dirty-rate (schema/dirty-rate.json) on real
guests, under each accelerator (kvm where /dev/kvm opens): the memory
dirtier (tests/guests/dirtier.c) gives a rate above 0, the hello guest,
halted after its greeting, and a stopped VM give 0; the monitor keeps
answering during a measurement; the argument checks answer as QEMU
7.2 does (compared with it where it is installed)."""

import json
import os
import shutil
import subprocess
import time

import pytest

from molt_harness import MOLT, guest, time_scale


def wait_for_text(path: str, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout * time_scale()
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors='replace').read():
            return
        time.sleep(0.02)
    raise TimeoutError('%r not in the serial output' % text)


def measure(q, calc_time: int = 1, **args) -> dict:
    """Runs one measurement to its end; returns query-dirty-rate's reply."""
    q.ok('calc-dirty-rate', {'calc-time': calc_time, **args})
    deadline = time.monotonic() + calc_time + 10
    while True:
        info = q.ok('query-dirty-rate')
        if info['status'] == 'measured':
            return info
        assert info['status'] == 'measuring', info
        assert time.monotonic() < deadline
        time.sleep(0.05)


def start_dirtier(start, tmpdir_short, accel):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-m', '64M', '-kernel', guest('dirtier'), '-serial', 'file:' + out)
    wait_for_text(out, 'round 1 ok', timeout=60)
    return m


def test_before_any_measurement(start):
    q = start('-S').connect()
    assert q.ok('query-dirty-rate') == {'status': 'unstarted', 'sample-pages': 0,
                                        'mode': 'page-sampling', 'start-time': 0, 'calc-time': 0}


@pytest.mark.parametrize('mode', ['dirty-bitmap', 'page-sampling'])
def test_dirtier_has_a_dirty_rate(start, tmpdir_short, accel, mode):
    q = start_dirtier(start, tmpdir_short, accel).connect()
    info = measure(q, mode=mode)
    assert info['mode'] == mode
    assert info['dirty-rate'] > 0, info
    assert info['dirty-rate'] <= 64 * 2, info    # at most all of RAM per second (+ slack)
    # The measured period in whole seconds, as QEMU: 1, or more when the
    # timer fires late on a busy machine.
    assert info['calc-time'] >= 1
    assert info['sample-pages'] == (512 if mode == 'page-sampling' else 0)


@pytest.mark.parametrize('mode', ['dirty-bitmap', 'page-sampling'])
def test_halted_guest_has_no_dirty_rate(start, tmpdir_short, accel, mode):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = start('-accel', accel, '-m', '64M', '-kernel', guest('hello'), '-serial', 'file:' + out)
    wait_for_text(out, 'molt guest: PASS')
    q = m.connect()
    assert measure(q, mode=mode)['dirty-rate'] == 0


def test_stopped_dirtier_has_no_dirty_rate(start, tmpdir_short, accel):
    q = start_dirtier(start, tmpdir_short, accel).connect()
    q.ok('stop')
    assert measure(q, mode='dirty-bitmap')['dirty-rate'] == 0
    q.ok('cont')
    assert measure(q, mode='dirty-bitmap')['dirty-rate'] > 0


def test_monitor_answers_while_measuring(start, tmpdir_short, accel):
    q = start_dirtier(start, tmpdir_short, accel).connect()
    t0 = time.monotonic()
    q.ok('calc-dirty-rate', {'calc-time': 4, 'mode': 'dirty-bitmap'})
    info = q.ok('query-dirty-rate')
    assert q.ok('query-status')['status'] == 'running'
    assert time.monotonic() - t0 < 2.0          # nothing waited for the period
    assert info['status'] == 'measuring'
    assert info['mode'] == 'dirty-bitmap' and info['calc-time'] == 4
    assert info['sample-pages'] == 512          # QEMU's default, shown while measuring
    assert 'dirty-rate' not in info
    assert abs(info['start-time'] - time.monotonic()) <= 2   # host monotonic seconds
    r = q.cmd('calc-dirty-rate', {'calc-time': 1})
    assert r['error'] == {'class': 'GenericError',
                          'desc': 'the dirty rate is already being measured.'}
    while q.ok('query-dirty-rate')['status'] == 'measuring':
        time.sleep(0.05)
    assert time.monotonic() - t0 >= 2.0
    # The dirty log was given back: another dirty-bitmap measurement runs.
    assert measure(q, mode='dirty-bitmap')['dirty-rate'] > 0


def test_dirty_ring_is_refused(start):
    q = start('-S').connect()
    r = q.cmd('calc-dirty-rate', {'calc-time': 1, 'mode': 'dirty-ring'})
    assert r['error'] == {'class': 'GenericError',
                          'desc': 'mode dirty-ring is not enabled, use other method instead.'}
    assert q.ok('query-dirty-rate')['status'] == 'unstarted'


def test_quit_during_a_measurement(start, tmpdir_short):
    m = start_dirtier(start, tmpdir_short, 'tcg')
    q = m.connect()
    q.ok('calc-dirty-rate', {'calc-time': 60, 'mode': 'dirty-bitmap'})
    q.ok('quit')
    assert m.wait() == 0


# The same requests to QEMU 7.2 and molt, both without a guest (-S).  Only
# what QEMU 7.2 survives under tcg: its dirty-ring and dirty-bitmap checks
# dereference KVM state that tcg does not have (the process crashes).
PEER_SCRIPT = [
    '{"execute": "qmp_capabilities"}',
    '{"execute": "query-dirty-rate"}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 0}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 61}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": -5}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "sample-pages": 127}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "sample-pages": 16385}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 0, "mode": "dirty-ring",'
    ' "sample-pages": 5}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "dirty-ring",'
    ' "sample-pages": 5}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "mode": "bogus"}}',
    '{"execute": "calc-dirty-rate", "arguments": {}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": "1"}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "sample-pages": 1.5}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1, "extra": 1}}',
    '{"execute": "query-dirty-rate", "arguments": {"calc-time": 1}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 2, "sample-pages": 4096}}',
    # QEMU's measuring thread sets "measuring" a moment after the reply
    # (until then a second calc-dirty-rate is accepted): wait for it.
    'sleep',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1}}',
    '{"execute": "calc-dirty-rate", "arguments": {"calc-time": 0}}',
]


def peer_replies(argv):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None and p.stdin is not None
    p.stdout.readline()   # greeting
    out = []
    for line in PEER_SCRIPT:
        if line == 'sleep':
            time.sleep(0.5)
            continue
        p.stdin.write(line + '\n')
        p.stdin.flush()
        msg = json.loads(p.stdout.readline())
        out.append(msg)
    # A final query once the 2 s measurement is over: the figures are the
    # machine's own, the shape is compared.
    time.sleep(2.5)
    p.stdin.write('{"execute": "query-dirty-rate"}\n{"execute": "quit"}\n')
    p.stdin.flush()
    last = json.loads(p.stdout.readline())
    p.wait(10)
    return out, last


@pytest.mark.skipif(shutil.which('qemu-system-x86_64') is None,
                    reason='qemu-system-x86_64 (the peer) is not installed')
def test_same_replies_as_qemu():
    qemu, qemu_last = peer_replies(['qemu-system-x86_64', '-accel', 'tcg', '-S', '-nodefaults',
                                    '-display', 'none', '-m', '256M', '-qmp', 'stdio'])
    molt, molt_last = peer_replies([MOLT, '-S', '-nodefaults', '-display', 'none', '-m', '256M',
                                    '-qmp', 'stdio'])
    requests = [r for r in PEER_SCRIPT if r != 'sleep']
    assert len(qemu) == len(molt) == len(requests)
    for i, (a, b) in enumerate(zip(qemu, molt)):
        assert a == b, (requests[i], a, b)
    for r in (qemu_last, molt_last):
        info = r['return']
        info.pop('start-time')
        assert info == {'status': 'measured', 'dirty-rate': 0, 'sample-pages': 4096,
                        'mode': 'page-sampling', 'calc-time': 2}, r
