"""COM1 on a socket, as QEMU's socket chardev: -serial unix:PATH and
tcp:HOST:PORT, as a server (server=on, one client at a time, with or
without wait) or as a client (server=off).  The test guests (tests/guests)
print over the UART: hello says hello, console echoes what it reads
upper-cased, flood prints numbered lines forever.  Under each accelerator
(kvm only where /dev/kvm opens)."""

import fcntl
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import termios
import time
from typing import List

import pytest

from molt_harness import MOLT, Qmp, errors, guest, time_scale


def wait_for_path(path: str, timeout: float = 10.0) -> None:
    """molt creates the serial socket just after the QMP one."""
    deadline = time.monotonic() + timeout * time_scale()
    while not os.path.exists(path):
        assert time.monotonic() < deadline, path + ' did not appear'
        time.sleep(0.01)


def connect(path: str) -> socket.socket:
    wait_for_path(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * time_scale())
    s.connect(path)
    return s


def read_until(s: socket.socket, text: bytes, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout * time_scale()
    data = b''
    while text not in data:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            raise TimeoutError('%r not in serial output %r' % (text, data[-200:]))
        assert chunk, 'serial socket closed after %r' % data[-200:]
        data += chunk
    return data


def nothing_arrives(s: socket.socket, wait: float = 0.3) -> bool:
    s.settimeout(wait)
    try:
        s.recv(100)
    except socket.timeout:
        return True
    return False


FLOOD_LINE = re.compile(rb'flood ([0-9]+) \.+')


def flood_numbers(data: bytes) -> List[int]:
    """The numbers of the whole "flood N ...." lines in data (256 bytes
    with CR LF), less the first and the last (they may be cut)."""
    lines = data.split(b'\r\n')[1:-1]
    return [int(m.group(1)) for m in map(FLOOD_LINE.fullmatch, lines)
            if m and len(m.group(0)) == 254]


def read_flood(s: socket.socket, count: int, timeout: float = 10.0) -> bytes:
    """Reads until data holds count whole lines past the first."""
    deadline = time.monotonic() + timeout * time_scale()
    data = b''
    while len(flood_numbers(data)) < count:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(65536)
        assert chunk, 'serial socket closed after %r' % data[-200:]
        data += chunk
    return data


def test_wait_on_holds_the_guest_until_a_client(start, tmpdir_short, accel):
    """server=on alone waits (QEMU's default): the guest starts only once
    a client is there, so it gets all the output; the socket is 0600, a
    stale one is replaced, and it goes when molt quits."""
    path = os.path.join(tmpdir_short, 'serial.sock')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    assert stat.S_IMODE(os.stat(path).st_mode) != 0o600
    m = start('-accel', accel, '-kernel', guest('hello'), '-serial', 'unix:%s,server=on' % path)
    deadline = time.monotonic() + 10 * time_scale()

    def mode() -> int:   # (none for a moment: molt unlinks the stale one, then binds)
        try:
            return stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            return 0
    while mode() != 0o600:   # molt's, not the stale one
        assert time.monotonic() < deadline, 'the stale socket was not replaced'
        time.sleep(0.01)
    q = m.connect()   # QMP is served while molt waits
    assert q.ok('query-status')['status'] == 'prelaunch'
    time.sleep(0.3)
    s = connect(path)
    out = read_until(s, b'molt guest: PASS\r\n')
    assert out.startswith(b'molt guest: hello\r\n'), out
    assert q.ok('query-status')['status'] == 'running'
    s.close()
    m.stop()
    assert m.proc.returncode == 0
    assert not os.path.exists(path)


def test_console_echo_one_client_at_a_time(start, tmpdir_short, accel):
    """Typed bytes reach the guest; a second client waits in the backlog
    (neither read nor written) until the first hangs up; then it is
    served, its early input included."""
    path = os.path.join(tmpdir_short, 'serial.sock')
    m = start('-S', '-accel', accel, '-kernel', guest('console'),
              '-serial', 'unix:%s,server=on,wait=off' % path)
    first = connect(path)
    m.connect().ok('cont')
    assert read_until(first, b'console: ready\r\n') == b'console: ready\r\n'
    first.sendall(b'abc')
    assert read_until(first, b'ABC') == b'ABC'
    second = connect(path)
    second.sendall(b'x')
    first.sendall(b'de')
    assert read_until(first, b'DE') == b'DE'
    assert nothing_arrives(second)
    first.close()
    assert read_until(second, b'X') == b'X'
    second.sendall(b'yq')
    assert read_until(second, b'console: bye\r\n') == b'Y\r\nconsole: bye\r\n'
    second.close()


def test_reconnect_and_output_without_client_dropped(start, tmpdir_short, accel):
    """Without a client the guest's output is dropped, not kept for the
    next one; a client that hangs up puts molt back to listening."""
    path = os.path.join(tmpdir_short, 'serial.sock')
    m = start('-accel', accel, '-kernel', guest('flood'),
              '-serial', 'unix:%s,server=on,wait=off' % path)
    q = m.connect()
    assert q.ok('query-status')['status'] == 'running'
    time.sleep(0.5)
    for _ in range(3):
        s = connect(path)
        data = read_flood(s, 3)
        assert not data.startswith(b'flood 1\r\n'), data[:100]
        numbers = flood_numbers(data)
        assert numbers[0] > 1
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        s.close()
        time.sleep(0.1)
    assert q.ok('query-status')['status'] == 'running'


def queued_bytes(s: socket.socket) -> int:
    return struct.unpack('i', fcntl.ioctl(s.fileno(), termios.FIONREAD, b'\0' * 4))[0]


def lazy_round(path: str, q: Qmp, stall: float) -> List[int]:
    """A client that stops reading: once its socket is full (it stops
    filling up), then for stall seconds.  Then it reads what waited for it
    (the socket's bytes, then at most a 16 KiB chunk and the 64 KiB pipe)
    and a bit more; returns the jumps in the line numbers, where the guest
    went on printing while nothing was taken."""
    lazy = connect(path)
    deadline = time.monotonic() + 60
    queued = -1
    while queued != queued_bytes(lazy) or queued <= 0:
        assert time.monotonic() < deadline, 'the socket never filled up: %d bytes' % queued
        queued = queued_bytes(lazy)
        time.sleep(1)
    time.sleep(stall)
    q.ok('x-query-cpu-state')   # the vCPU thread answers a pause: not stuck in a write
    assert q.ok('query-status')['status'] == 'running'
    data = b''
    while len(data) < queued + (100 << 10):
        data += lazy.recv(1 << 20)
    lazy.close()
    numbers = flood_numbers(data)
    return [b - a for a, b in zip(numbers, numbers[1:]) if b - a != 1]


def test_client_that_never_reads_stalls_nothing(start, tmpdir_short, accel):
    """A client that does not read: once its socket and molt's pipe are
    full, the rest is dropped; the guest runs on and QMP answers.  (How
    long the pipe takes to fill depends on the guest's speed, so the stall
    grows until it has.)"""
    path = os.path.join(tmpdir_short, 'serial.sock')
    m = start('-accel', accel, '-kernel', guest('flood'),
              '-serial', 'unix:%s,server=on,wait=off' % path)
    q = m.connect()
    for stall in (3, 8, 20):
        jumps = lazy_round(path, q, stall)
        if jumps:
            break
    assert jumps, 'no output was dropped'
    assert all(j > 1 for j in jumps), jumps


def test_tcp_server_console(start, accel):
    """tcp:HOST:PORT,server=on,wait=off; port 0 picks one (-d backends
    tells which)."""
    m = start('-S', '-accel', accel, '-kernel', guest('console'), '-d', 'backends',
              '-serial', 'tcp:127.0.0.1:0,server=on,wait=off,nodelay=on')
    line = m.proc.stderr.readline()
    assert line.startswith('molt: serial: listening on tcp:127.0.0.1:'), line
    port = int(line.rsplit(':', 1)[1])
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    m.connect().ok('cont')
    read_until(s, b'console: ready\r\n')
    s.sendall(b'tcp!')
    assert read_until(s, b'TCP!') == b'TCP!'
    s.close()
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.sendall(b'again')
    assert read_until(s, b'AGAIN') == b'AGAIN'
    s.close()


@pytest.mark.parametrize('transport', ['unix', 'tcp'])
def test_client_mode_connects_at_start(start, tmpdir_short, accel, transport):
    """server=off (the default): molt connects to a listening peer at
    start-up; after the peer hangs up, output is dropped and molt runs on."""
    if transport == 'unix':
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = os.path.join(tmpdir_short, 'peer.sock')
        listener.bind(addr)
        spec = 'unix:' + addr
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(('127.0.0.1', 0))
        spec = 'tcp:127.0.0.1:%d' % listener.getsockname()[1]
    listener.listen(1)
    listener.settimeout(10)
    m = start('-S', '-accel', accel, '-kernel', guest('console'), '-serial', spec)
    peer, _ = listener.accept()
    q = m.connect()
    q.ok('cont')
    read_until(peer, b'console: ready\r\n')
    peer.sendall(b'peer')
    assert read_until(peer, b'PEER') == b'PEER'
    peer.close()
    listener.close()
    time.sleep(0.2)
    assert q.ok('query-status')['status'] == 'running'


def test_sigterm_while_waiting_removes_the_sockets(tmpdir_short):
    path = os.path.join(tmpdir_short, 'serial.sock')
    p = subprocess.Popen([MOLT, '-kernel', guest('hello'), '-serial', 'unix:%s,server=on' % path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for_path(path)
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        assert 'terminating on signal 15' in p.stderr.read()
        assert os.listdir(tmpdir_short) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_later_error_removes_the_serial_socket(tmpdir_short):
    path = os.path.join(tmpdir_short, 'serial.sock')
    r = subprocess.run([MOLT, '-serial', 'unix:%s,server=on,wait=off' % path,
                        '-kernel', '/nonexistent'], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert errors(r.stderr) == ("molt: -kernel: could not open '/nonexistent': "
                                "No such file or directory\n")
    assert os.listdir(tmpdir_short) == []
