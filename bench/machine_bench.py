#!/usr/bin/env python3
"""Benchmark: molt's machine, per accelerator (kvm where /dev/kvm opens).

- exec -> first guest output: from spawning molt with the hello guest
  (tests/guests) to the first byte on its serial port (a pipe);
- dirtier rounds/s over 256 MiB (every page written and checked once per
  round), read from the guest's serial lines;
- virtio-net echo: UDP round trips/s through a real TAP, the echo guest
  answering, in a network namespace this script creates (needs root,
  /dev/net/tun and iproute2; skipped with the reason otherwise).
QEMU cannot run these guests (they rely on molt's device tree), so there
is no peer column; `bench/qmp_bench.py` has molt beside QEMU.

Usage: machine_bench.py [BUILD] [--repeat R]
"""

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from typing import List, Optional

ECHO_CLIENT = r'''
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(100):
    s.sendto(b'w', ('10.9.0.2', 7777)); s.recvfrom(64)
t = time.perf_counter()
for i in range(n):
    s.sendto(b'x' * 32, ('10.9.0.2', 7777)); s.recvfrom(64)
print(n / (time.perf_counter() - t))
'''


def accels() -> List[str]:
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
        return ['kvm', 'tcg']
    except OSError:
        return ['tcg']


def first_output_ms(molt: str, guest: str, accel: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.Popen([molt, '-accel', accel, '-m', '64M', '-kernel', guest,
                          '-serial', 'stdio'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    select.select([p.stdout], [], [], 10)
    p.stdout.read(1)
    dt = (time.perf_counter() - t0) * 1000
    p.kill()
    p.wait()
    return dt


def dirtier_rounds_per_s(molt: str, guest: str, accel: str, rounds: int = 6) -> float:
    p = subprocess.Popen([molt, '-accel', accel, '-m', '256M', '-kernel', guest,
                          '-append', 'rounds=%d' % rounds, '-serial', 'stdio'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    times = []
    for line in p.stdout:
        if ' ok' in line:
            times.append(time.perf_counter())
        if 'PASS' in line or 'FAIL' in line:
            break
    p.kill()
    p.wait()
    # Round 1 only writes; rounds 2.. check and write: time those.
    return (len(times) - 2) / (times[-1] - times[1]) if len(times) > 2 else 0.0


def echo_rate(molt: str, guest: str, accel: str, n: int) -> Optional[float]:
    ns = 'molt-bench-%d' % os.getpid()
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        p = subprocess.Popen(['ip', 'netns', 'exec', ns, molt, '-accel', accel, '-m', '64M',
                              '-kernel', guest, '-netdev', 'tap,id=n0,ifname=benchtap0',
                              '-device', 'virtio-net-device,netdev=n0', '-serial', 'stdio'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert p.stdout is not None
        for line in p.stdout:
            if 'echo: ready' in line:
                break
        for cmd in (['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'benchtap0'],
                    ['ip', 'link', 'set', 'benchtap0', 'up']):
            subprocess.run(['ip', 'netns', 'exec', ns, *cmd], check=True)
        r = subprocess.run(['ip', 'netns', 'exec', ns, sys.executable, '-c', ECHO_CLIENT,
                            str(n)], capture_output=True, text=True, timeout=120)
        p.kill()
        p.wait()
        return float(r.stdout) if r.returncode == 0 else None
    finally:
        subprocess.run(['ip', 'netns', 'del', ns], check=False)


def triple(values: List[float], fmt: str) -> str:
    return ' / '.join(fmt % v for v in (min(values), statistics.median(values), max(values)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('build', nargs='?', default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'build'))
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()
    molt = os.path.join(args.build, 'vmm', 'molt')
    guests = os.path.join(args.build, 'tests', 'guests')
    net_ok = os.geteuid() == 0 and os.access('/dev/net/tun', os.W_OK) and shutil.which('ip')
    print('%-44s %s' % ('metric (min / median / max, %d runs)' % args.repeat, 'value'))
    for accel in accels():
        v = [first_output_ms(molt, os.path.join(guests, 'guest-hello'), accel)
             for _ in range(args.repeat)]
        print('%-44s %s ms' % ('%s: exec -> first serial byte' % accel, triple(v, '%.1f')))
        v = [dirtier_rounds_per_s(molt, os.path.join(guests, 'guest-dirtier'), accel)
             for _ in range(args.repeat)]
        print('%-44s %s rounds/s (%s M page checks+writes/s)' % (
            '%s: dirtier, 256 MiB' % accel, triple(v, '%.2f'),
            triple([x * 65536 / 1e6 for x in v], '%.2f')))
        if not net_ok:
            print('%-44s skipped: needs root, /dev/net/tun and iproute2' % (accel + ': echo'))
            continue
        rates = [echo_rate(molt, os.path.join(guests, 'guest-echo'), accel, 2000)
                 for _ in range(args.repeat)]
        got = [r for r in rates if r]
        print('%-44s %s round trips/s' % ('%s: virtio-net UDP echo via TAP' % accel,
                                          triple(got, '%.0f') if got else 'failed'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
