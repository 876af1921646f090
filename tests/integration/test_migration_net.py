"""A guest's network across a live migration, and self-announcement.

Real processes, real TAP devices in a network namespace of the test's own:
the source's TAP and the destination's TAP are ports of one Linux bridge,
whose address the echo client uses.  After the switch-over only the
destination's self-announcement (RARP from the guest's MAC) tells the
bridge that the MAC moved; without it the bridge would go on sending the
guest's traffic to the source's port.
"""

import os
import select
import subprocess
import time
from typing import List

import pytest

from molt_harness import guest, in_ns, time_scale
from test_migration import wait_for_text, wait_status

ECHO = guest('echo')
MAC = '52:54:00:ab:cd:ef'

# Sends a datagram every 10 ms for the given seconds and writes one line
# per datagram: "<send time> <1 if the echo came back, else 0>".
STEADY_CLIENT = r'''
import socket, sys, time
seconds = float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.25)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    t = time.monotonic()
    msg = b'datagram %d' % i
    s.sendto(msg, ('10.9.0.2', 7777))
    ok = 0
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if data == msg:
                ok = 1
                break
    except socket.timeout:
        pass
    print('%.3f %d' % (t, ok), flush=True)
    i += 1
    time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))
'''

# Captures RARP frames (EtherType 0x8035) arriving on an interface for the
# given seconds; prints "<time> <source MAC> <length>" for each.
RARP_CAPTURE = r'''
import socket, sys, time
ifname, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((ifname, 0))
s.settimeout(0.05)
print('ready', flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        frame = s.recv(2048)
    except socket.timeout:
        continue
    print('%.3f %s %d %s' % (time.monotonic(), frame[6:12].hex(':'), len(frame),
                             frame[14:42].hex()), flush=True)
'''


def ns_ok(ns: str, *argv: str) -> None:
    r = in_ns(ns, *argv)
    assert r.returncode == 0, (argv, r.stderr)


def bridge(ns: str) -> None:
    r = in_ns(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
    if r.returncode != 0:
        pytest.skip('no Linux bridge here: ' + r.stderr.strip())
    ns_ok(ns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'br0')
    ns_ok(ns, 'ip', 'link', 'set', 'br0', 'up')


def plug(ns: str, tap: str) -> None:
    ns_ok(ns, 'ip', 'link', 'set', tap, 'master', 'br0')
    ns_ok(ns, 'ip', 'link', 'set', tap, 'up')


def fdb_port(ns: str) -> str:
    """The bridge port the guest's MAC was last seen on ('' if none)."""
    r = in_ns(ns, 'bridge', 'fdb', 'show', 'br', 'br0')
    for line in r.stdout.splitlines():
        words = line.split()
        if words and words[0] == MAC and 'dev' in words:
            return words[words.index('dev') + 1]
    return ''


def echo_guest(start, accel: str, ns: str, tap: str, serial: str, *extra: str):
    return start('-accel', accel, '-m', '64M', '-kernel', ECHO, '-serial', 'file:' + serial,
                 '-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no' % tap,
                 '-device', 'virtio-net-device,netdev=n0,mac=%s,id=net0' % MAC, *extra, netns=ns)


def test_echo_guest_keeps_answering_across_migration(netns, start, tmpdir_short, accel):
    bridge(netns)
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    path = os.path.join(tmpdir_short, 'mig.sock')
    src = echo_guest(start, accel, netns, 'molttap0', src_out)
    wait_for_text(src_out, 'port 7777\r\n')
    dst = echo_guest(start, accel, netns, 'molttap1', dst_out, '-incoming', 'unix:' + path)
    plug(netns, 'molttap0')
    plug(netns, 'molttap1')
    q, qd = src.connect(), dst.connect()
    wait_status(qd, ('setup',))
    seconds = 3 + 3 * time_scale()
    client = subprocess.Popen(['ip', 'netns', 'exec', netns, '/usr/bin/python3', '-c',
                               STEADY_CLIENT, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        # Answers from the source first: from the client's first line (a
        # loaded machine can take a second to start it), 0.7 s more.
        ready, _, _ = select.select([client.stdout], [], [], 10 * time_scale())
        assert ready, 'the echo client did not start'
        first = client.stdout.readline()
        time.sleep(0.7 * time_scale())
        assert fdb_port(netns) == 'molttap0'
        q.ok('migrate-set-parameters', {'max-bandwidth': 1 << 40})
        q.ok('migrate', {'uri': 'unix:' + path})
        assert wait_status(q, ('completed', 'failed'))['status'] == 'completed'
        assert wait_status(qd, ('completed', 'failed'))['status'] == 'completed'
        stop = q.wait_event('STOP')['timestamp']
        out, _ = client.communicate(timeout=seconds + 30 * time_scale())
        out = first + out
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0
    results = [(float(t), int(ok)) for t, ok in (line.split() for line in out.splitlines())]
    # The bridge learned the new port from the destination's announcement.
    assert fdb_port(netns) == 'molttap1'
    assert qd.ok('query-status')['status'] == 'running'
    # Every datagram answered before the migration and in the last two
    # seconds (by the destination: the source is in postmigrate); the few
    # lost ones were sent around the switch-over.
    lost = [t for t, ok in results if not ok]
    assert len(results) > 200, len(results)
    assert all(ok for _, ok in results[:50]), results[:50]
    tail = [ok for t, ok in results if t > results[-1][0] - 2.0]
    assert tail and all(tail), results[-len(tail):]
    assert len(lost) <= 10 * time_scale(), (lost, stop)
    assert qd.ok('query-status')['status'] == 'running'


def test_idle_guest_is_found_through_its_announcement(netns, start, tmpdir_short, accel):
    """No traffic at the switch-over: the guest sends nothing on the
    destination by itself, so only the self-announcement can move the
    bridge's entry for its MAC to the destination's port."""
    bridge(netns)
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    path = os.path.join(tmpdir_short, 'mig.sock')
    src = echo_guest(start, accel, netns, 'molttap0', src_out)
    wait_for_text(src_out, 'port 7777\r\n')
    dst = echo_guest(start, accel, netns, 'molttap1', dst_out, '-incoming', 'unix:' + path)
    plug(netns, 'molttap0')
    q, qd = src.connect(), dst.connect()
    wait_status(qd, ('setup',))
    r = in_ns(netns, '/usr/bin/python3', '-c', STEADY_CLIENT, '0.5')
    assert r.returncode == 0 and r.stdout.split()[1::2] and all(
        ok == '1' for ok in r.stdout.split()[1::2]), r.stdout
    assert fdb_port(netns) == 'molttap0'
    # Plugged only now: the host's ARP request, which the bridge flooded,
    # is not waiting in the destination's TAP for its guest to answer.
    plug(netns, 'molttap1')
    time.sleep(0.3)                                  # the last echo is long out
    q.ok('migrate', {'uri': 'unix:' + path})
    assert wait_status(q, ('completed', 'failed'))['status'] == 'completed'
    assert wait_status(qd, ('completed', 'failed'))['status'] == 'completed'
    assert fdb_port(netns) == 'molttap1'
    r = in_ns(netns, '/usr/bin/python3', '-c', STEADY_CLIENT, '1')
    answers = r.stdout.split()[1::2]
    assert r.returncode == 0 and answers and all(ok == '1' for ok in answers), r.stdout
    wait_for_text(dst_out, 'echo: ')


def capture(ns: str, ifname: str, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen(['ip', 'netns', 'exec', ns, '/usr/bin/python3', '-c', RARP_CAPTURE,
                          ifname, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == 'ready'
    return p


def frames(p: subprocess.Popen) -> List[List[str]]:
    out, _ = p.communicate(timeout=60 * time_scale())
    return [line.split() for line in out.splitlines()]


def test_announce_self_sends_rarp_rounds(netns, start, tmpdir_short):
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = echo_guest(start, 'tcg', netns, 'molttap0', out)
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    wait_for_text(out, 'port 7777\r\n')
    q = m.connect()
    p = capture(netns, 'molttap0', 1.5)
    q.ok('announce-self', {'initial': 100, 'max': 250, 'rounds': 4, 'step': 100})
    got = frames(p)
    assert len(got) == 4, got
    assert all(f[1] == MAC and f[2] == '60' for f in got), got
    # RARP request reverse for the MAC itself: htype 1, ptype IPv4, 6/4,
    # opcode 3, sender = target = the MAC, no IP addresses.
    mac = MAC.replace(':', '')
    assert got[0][3] == '0001080006040003' + mac + '00000000' + mac + '00000000', got[0]
    # Pauses 100, 200, then 250 (capped at max) ms.
    gaps = [float(b[0]) - float(a[0]) for a, b in zip(got, got[1:])]
    for gap, want in zip(gaps, (0.1, 0.2, 0.25)):
        assert want - 0.02 <= gap <= want + 0.1 * time_scale(), gaps
    # A list of interfaces that names no device: nothing is sent.
    p = capture(netns, 'molttap0', 0.5)
    q.ok('announce-self', {'initial': 50, 'max': 50, 'rounds': 2, 'step': 50,
                           'interfaces': ['no-such-nic'], 'id': 'other'})
    assert frames(p) == []
    # Its own name: only net0.
    p = capture(netns, 'molttap0', 0.5)
    q.ok('announce-self', {'initial': 50, 'max': 50, 'rounds': 2, 'step': 50,
                           'interfaces': ['net0'], 'id': 'other'})
    assert len(frames(p)) == 2
    # Out of range: a clear error.
    r = q.cmd('announce-self', {'initial': 50, 'max': 50, 'rounds': 2, 'step': 0})
    assert r['error']['class'] == 'GenericError' and 'step' in r['error']['desc'], r


def test_a_down_tap_drops_frames_and_the_device_works_on(netns, start, tmpdir_short):
    """Writing to a TAP whose interface is down fails (EIO): the frame is
    lost as on an unplugged cable - not a device error - and once the
    interface is up the guest answers."""
    out = os.path.join(tmpdir_short, 'serial.txt')
    m = echo_guest(start, 'tcg', netns, 'molttap0', out)
    wait_for_text(out, 'port 7777\r\n')
    q = m.connect()
    q.ok('announce-self', {'initial': 10, 'max': 10, 'rounds': 1, 'step': 10})   # into a down TAP
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    r = in_ns(netns, '/usr/bin/python3', '-c', STEADY_CLIENT, '0.5')
    answers = r.stdout.split()[1::2]
    assert r.returncode == 0 and answers and all(ok == '1' for ok in answers), r.stdout
    state = q.ok('x-query-machine-state')
    assert state['nets'][0]['net']['tx-dropped'] >= 1, state['nets'][0]


def test_ended_announcement_sequences_are_freed(start):
    """A sequence of announce-self ends with its last round and goes, its
    timer with it: a hundred sequences of different ids leave the fds as
    they were (they used to keep a timerfd each, for good)."""
    m = start('-S')
    q = m.connect()
    before = len(os.listdir('/proc/%d/fd' % m.proc.pid))
    for i in range(100):
        q.ok('announce-self', {'initial': 1, 'max': 1, 'rounds': 2, 'step': 1, 'id': 'a%d' % i})
    time.sleep(0.2 * time_scale())           # every second round is 1 ms after the first
    assert len(os.listdir('/proc/%d/fd' % m.proc.pid)) == before
