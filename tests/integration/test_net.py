"""virtio-net over a real TAP, end to end: the echo guest (tests/guests)
answers UDP datagrams sent from the host side of the TAP, inside a
network namespace this test creates (molt runs in it), under each
accelerator (kvm only where /dev/kvm opens).  Needs root, /dev/net/tun
and iproute2; skipped with the reason otherwise."""

import os
import subprocess
import time

import pytest

from molt_harness import MOLT, Qmp, guest, in_ns, kvm_usable, time_scale, wait_for_socket

ECHO_CLIENT = r'''
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
ok = 0
for i in range(n):
    msg = b'datagram %d' % i
    s.sendto(msg, ('10.9.0.2', 7777))
    data, addr = s.recvfrom(2048)
    ok += data == msg and addr == ('10.9.0.2', 7777)
print(ok)
'''


def wait_for(path: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout * time_scale()
    data = ''
    while time.monotonic() < deadline:
        if os.path.exists(path):
            data = open(path, newline='').read()
            if text in data:
                return data
        time.sleep(0.02)
    raise TimeoutError('%r not in %r' % (text, data))


@pytest.mark.parametrize('accel', ['tcg', 'kvm'])
def test_echo_guest_answers_udp_through_the_tap(netns, tmpdir_short, accel):
    if accel == 'kvm' and not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    serial = os.path.join(tmpdir_short, 'serial.txt')
    qmp = os.path.join(tmpdir_short, 'qmp.sock')
    proc = subprocess.Popen(
        ['ip', 'netns', 'exec', netns, MOLT, '-accel', accel, '-m', '64M',
         '-kernel', guest('echo'), '-d', 'backends',
         '-netdev', 'tap,id=n0,ifname=molttap0,script=no,downscript=no',
         '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:ab:cd:ef',
         '-serial', 'file:' + serial, '-qmp', 'unix:%s,server=on,wait=off' % qmp],
        stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(qmp, proc)
        text = wait_for(serial, 'port 7777\r\n')
        assert 'mac 0x00000000000000ef' in text            # -device mac= reached the guest
        for cmd in (['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0'],
                    ['ip', 'link', 'set', 'molttap0', 'up']):
            r = in_ns(netns, *cmd)
            assert r.returncode == 0, r.stderr
        r = in_ns(netns, '/usr/bin/python3', '-c', ECHO_CLIENT, '200')
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == '200'
        wait_for(serial, 'echo: 200')
        # The VM pauses and resumes with its network: datagrams sent while
        # it is stopped are answered after cont.
        q = Qmp(qmp)
        q.ok('stop')
        client = subprocess.Popen(['ip', 'netns', 'exec', netns, '/usr/bin/python3', '-c',
                                   ECHO_CLIENT, '1'], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        assert client.poll() is None                       # no answer while stopped
        q.ok('cont')
        assert client.communicate(timeout=10 * time_scale())[0].strip() == '1'
        q.cmd('quit')
        assert proc.wait(10) == 0
        assert "netdev tap 'n0': opened TAP molttap0" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tap_in_use_elsewhere_is_a_clear_error(netns, tmpdir_short):
    # An interface of that name that is a TUN, not a TAP, cannot be attached.
    r = in_ns(netns, 'ip', 'tuntap', 'add', 'dev', 'molttap0', 'mode', 'tun')
    assert r.returncode == 0, r.stderr
    r = in_ns(netns, MOLT, '-netdev', 'tap,id=n0,ifname=molttap0',
              '-device', 'virtio-net-device,netdev=n0')
    assert r.returncode == 1
    assert r.stderr.startswith('molt: -netdev n0: could not configure /dev/net/tun (molttap0)')
    assert len(r.stderr.splitlines()) == 1
