"""multifd: guest RAM over parallel channels (real processes, real sockets).

The dirtier guest rewrites its RAM all the time and checks every page on
the destination, so a page lost, or an old copy overtaking a newer one
between two channels, fails its self-check.
"""

import os
import signal
import socket
import subprocess
import time

import pytest

import test_migration as base
from molt_harness import time_scale


def multifd(channels: int):
    def setup(q) -> None:
        q.ok('migrate-set-capabilities', {'capabilities': [
            {'capability': 'multifd', 'state': True}]})
        q.ok('migrate-set-parameters', {'multifd-channels': channels})
    return setup


def mig_threads(pid: int) -> list:
    names = []
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('channels', [1, 4])
def test_dirtier_migrates_over_multifd_unix(start, tmpdir_short, accel, channels):
    path = os.path.join(tmpdir_short, 'mig.sock')
    info = base.migrate_and_check(start, tmpdir_short, accel, 'unix:' + path, 'unix:' + path,
                                  before_migrate=multifd(channels))
    assert info['ram']['transferred'] > 0


def test_dirtier_migrates_over_multifd_tcp(start, tmpdir_short, accel):
    port = free_port()
    base.migrate_and_check(start, tmpdir_short, accel, 'tcp:127.0.0.1:%d' % port,
                           'tcp:127.0.0.1:%d' % port, before_migrate=multifd(3))


def migrating_on_four_channels(start, tmpdir_short: str, path: str, bandwidth: int):
    """(source, destination, the source's QMP, its serial file): the
    dirtier migrating over unix socket path on four multifd channels,
    capped at bandwidth bytes/s so that RAM moves long enough to watch."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    src = start('-accel', 'tcg', '-m', '64M', '-kernel', base.DIRTIER, '-serial', 'file:' + src_out)
    dst = start('-accel', 'tcg', '-m', '64M', '-kernel', base.DIRTIER, '-serial', 'file:' + dst_out,
                '-incoming', 'unix:' + path)
    base.listening(dst)
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    multifd(4)(q)
    q.ok('migrate-set-parameters', {'max-bandwidth': bandwidth})
    q.ok('migrate', {'uri': 'unix:' + path})
    return src, dst, q, src_out


def test_multifd_channels_are_connections_and_threads(start, tmpdir_short):
    """Four channels: four more connections, and a sending thread for each
    while RAM moves (a bandwidth cap keeps it moving long enough to see)."""
    path = os.path.join(tmpdir_short, 'mig.sock')
    src, dst, q, _ = migrating_on_four_channels(start, tmpdir_short, path, 16 << 20)
    deadline = time.monotonic() + 10 * time_scale()
    senders, receivers = [], []
    while time.monotonic() < deadline and (len(senders) < 4 or len(receivers) < 4):
        senders = [n for n in mig_threads(src.proc.pid) if n.startswith('mig/src/send_')]
        receivers = [n for n in mig_threads(dst.proc.pid) if n.startswith('mig/dst/recv_')]
        time.sleep(0.05)
    assert sorted(senders) == ['mig/src/send_%d' % i for i in range(4)], senders
    assert sorted(receivers) == ['mig/dst/recv_%d' % i for i in range(4)], receivers
    # Five connections to the destination's socket: ss lists them.
    r = subprocess.run(['ss', '-x', '-p'], capture_output=True, text=True)
    if r.returncode == 0:
        peers = [line for line in r.stdout.splitlines() if path in line]
        assert len(peers) == 5, peers
    q.ok('migrate_cancel')
    assert base.wait_status(q, ('cancelled',))['status'] == 'cancelled'
    assert q.ok('query-status')['status'] == 'running'


def test_multifd_needs_a_socket_address(start, tmpdir_short):
    out = os.path.join(tmpdir_short, 'src.txt')
    src = start('-accel', 'tcg', '-m', '32M', '-kernel', base.DIRTIER, '-serial', 'file:' + out)
    q = src.connect()
    multifd(2)(q)
    for uri in ('exec:cat > /dev/null', 'file:' + os.path.join(tmpdir_short, 'f')):
        r = q.cmd('migrate', {'uri': uri})
        assert r['error']['desc'] == 'Migration requires multi-channel URIs (e.g. tcp)', r
    assert q.ok('query-status')['status'] == 'running'
    assert 'status' not in q.ok('query-migrate')


def test_destination_killed_during_multifd_leaves_the_source_running(start, tmpdir_short):
    path = os.path.join(tmpdir_short, 'mig.sock')
    src, dst, q, src_out = migrating_on_four_channels(start, tmpdir_short, path, 8 << 20)
    time.sleep(0.5)
    dst.proc.kill()
    info = base.wait_status(q, ('failed',))
    assert info['error-desc'], info
    assert q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(src_out))
    base.wait_for_text(src_out, 'dirtier: round %d ok' % (before + 1))


def test_cancel_while_the_channels_are_blocked(start, tmpdir_short):
    """A destination that stops reading (SIGSTOP) leaves every RAM channel
    blocked in a write: migrate_cancel still ends the migration at once
    (each channel is shut down) and the guest runs on."""
    path = os.path.join(tmpdir_short, 'mig.sock')
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    guest = ['-accel', 'tcg', '-m', '256M', '-kernel', base.DIRTIER]
    src = start(*guest, '-serial', 'file:' + src_out)
    dst = start(*guest, '-serial', 'file:' + dst_out, '-incoming', 'unix:' + path)
    base.listening(dst)
    base.wait_for_text(src_out, 'dirtier: round 1 ok')
    q = src.connect()
    multifd(2)(q)
    q.ok('migrate', {'uri': 'unix:' + path})
    deadline = time.monotonic() + 10 * time_scale()
    while q.ok('query-migrate')['ram']['transferred'] < (8 << 20) and time.monotonic() < deadline:
        time.sleep(0.01)
    dst.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.5)   # the socket buffers fill; the writes block
        assert q.ok('query-migrate')['status'] == 'active'
        q.ok('migrate_cancel')
        info = base.wait_status(q, ('cancelled', 'failed'), timeout=5)
        assert info['status'] == 'cancelled', info
        assert q.ok('query-status')['status'] == 'running'
    finally:
        dst.proc.send_signal(signal.SIGCONT)
