#!/usr/bin/env python3
"""Benchmark: molt's machine, per accelerator (kvm where /dev/kvm opens).

- exec -> first guest instruction: from spawning molt with the `first`
  guest (tests/guests/first.S, whose first three instructions write '!'
  to COM1) to that byte on molt's stdout (-serial stdio, a pipe);
- exec -> QMP ready: spawn -> greeting read and qmp_capabilities answered
  (connect polled every 1 ms, bench/qmp_bench.py's client), molt with the
  `first` guest loaded and the vCPU created (-S), beside QEMU 7.2
  (`qemu-system-x86_64 -accel A -S`, its default PC machine and firmware);
  both with -m 64M -nodefaults -display none;
- dirtier page touches/s (tests/guests/dirtier.c: each round checks and
  rewrites every free page of 64 MiB, 16111 pages, and prints a line):
  over fixed windows, counted from the round lines on molt's serial
  output, in one process: plain, then with dirty page tracking on (QMP
  calc-dirty-rate mode=dirty-bitmap, whose period covers the window:
  KVM's dirty log, or tcg's write hook), then plain again; the ratio
  tracked / mean of the two plain windows;
- virtio-net echo: UDP round trips/s through a real TAP, the echo guest
  answering, in a network namespace this script creates (needs root,
  /dev/net/tun and iproute2; skipped with the reason otherwise).
QEMU cannot run molt's test guests (they rely on molt's device tree), so
only exec -> QMP ready has a peer column.

Usage: machine_bench.py [BUILD] [--repeat R] [--window S] [--accel A] [--json FILE]
"""

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_bench import BenchError, Client, stop, wait_ready  # noqa: E402

MACHINE_ARGS = ['-m', '64M', '-nodefaults', '-display', 'none']

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


def first_instruction_ms(molt: str, guest: str, accel: str) -> float:
    t0 = time.perf_counter_ns()
    p = subprocess.Popen([molt, '-accel', accel, *MACHINE_ARGS, '-kernel', guest,
                          '-serial', 'stdio'], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    try:
        ready, _, _ = select.select([p.stdout], [], [], 20)
        byte = os.read(p.stdout.fileno(), 1) if ready else b''
        dt = (time.perf_counter_ns() - t0) / 1e6
        if byte != b'!':
            raise BenchError('%s: no "!" from the first guest (got %r)' % (accel, byte))
        return dt
    finally:
        p.kill()
        p.wait()


def qmp_ready_ms(argv: List[str]) -> float:
    with tempfile.TemporaryDirectory(prefix='machine-bench.') as tmp:
        path = os.path.join(tmp, 'qmp.sock')
        full = argv + ['-qmp', 'unix:%s,server=on,wait=off' % path]
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        client = None
        try:
            client, _, ms = wait_ready(proc, path, t0)
            return ms
        except BenchError as e:
            raise BenchError('%s: %s' % (' '.join(full), e))
        finally:
            stop(proc, client)


def qmp(client: Client, name: str, args: Optional[Dict[str, Any]] = None) -> Any:
    """One command with arguments; events on the way are skipped."""
    req: Dict[str, Any] = {'execute': name}
    if args:
        req['arguments'] = args
    client.sock.sendall(json.dumps(req).encode() + b'\n')
    while True:
        reply = json.loads(client.read_line())
        if 'event' not in reply:
            break
    if 'return' not in reply:
        raise BenchError('%s: %r' % (name, reply))
    return reply['return']


class SerialLines:
    """The round lines of a dirtier on molt's stdout, timestamped as they
    arrive (a thread reads them, so that QMP requests do not delay it)."""

    def __init__(self, proc: 'subprocess.Popen[str]') -> None:
        self.rounds: List[Tuple[float, int]] = []
        self.pages = 0
        self.failed = ''
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.read, args=(proc,), daemon=True)
        self.thread.start()

    def read(self, proc: 'subprocess.Popen[str]') -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter()
            if ' pages from ' in line:
                self.pages = int(line.split('dirtier: ')[1].split()[0])
            elif line.startswith('dirtier: round ') and line.rstrip().endswith(' ok'):
                with self.lock:
                    self.rounds.append((now, int(line.split()[2])))
            elif 'FAIL' in line:
                self.failed = line.strip()

    def count(self) -> int:
        with self.lock:
            return len(self.rounds)

    def rate(self, begin: float, end: float) -> float:
        """Page touches/s from the first to the last round completed in
        [begin, end] (whole rounds only)."""
        with self.lock:
            inside = [(t, r) for t, r in self.rounds if begin <= t <= end]
        if len(inside) < 2:
            raise BenchError('fewer than 2 dirtier rounds in the window: make it longer')
        (t0, r0), (t1, r1) = inside[0], inside[-1]
        return (r1 - r0) * self.pages / (t1 - t0)


def dirtier_rates(molt: str, guest: str, accel: str, window: float) -> Dict[str, float]:
    with tempfile.TemporaryDirectory(prefix='machine-bench.') as tmp:
        path = os.path.join(tmp, 'qmp.sock')
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen([molt, '-accel', accel, *MACHINE_ARGS, '-kernel', guest,
                                 '-serial', 'stdio', '-qmp', 'unix:%s,server=on,wait=off' % path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        client = None
        try:
            client, _, _ = wait_ready(proc, path, t0)
            lines = SerialLines(proc)
            deadline = time.perf_counter() + 60
            while lines.count() < 2:          # round 1 only writes: warm up past it
                if time.perf_counter() > deadline or lines.failed:
                    raise BenchError('%s: dirtier did not get going %s' % (accel, lines.failed))
                time.sleep(0.01)
            # plain, tracked, plain: the two plain windows bracket the
            # tracked one, so that drift (host load) shows up in them.
            begin = time.perf_counter()
            time.sleep(window)
            before = lines.rate(begin, time.perf_counter())
            calc = int(window) + 1
            qmp(client, 'calc-dirty-rate', {'calc-time': calc, 'mode': 'dirty-bitmap'})
            begin = time.perf_counter()
            time.sleep(window)
            tracked = lines.rate(begin, time.perf_counter())
            while qmp(client, 'query-dirty-rate')['status'] != 'measured':
                time.sleep(0.05)
            info = qmp(client, 'query-dirty-rate')
            begin = time.perf_counter()
            time.sleep(window)
            after = lines.rate(begin, time.perf_counter())
            if lines.failed:
                raise BenchError('%s: %s' % (accel, lines.failed))
            return {'plain_before': before, 'tracked': tracked, 'plain_after': after,
                    'plain': (before + after) / 2, 'dirty_rate_mb_s': info['dirty-rate']}
        finally:
            stop(proc, client)


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


def row(metric: str, value: str) -> None:
    print('%-52s %s' % (metric, value), flush=True)


def startup(molt: str, guests: str, accel: str, repeat: int, qemu: Optional[str],
            results: Dict[str, Any]) -> None:
    first = os.path.join(guests, 'guest-first')
    v = [first_instruction_ms(molt, first, accel) for _ in range(repeat)]
    results[accel + ' exec->first instruction ms'] = v
    row('%s: exec -> first guest instruction' % accel, triple(v, '%.1f') + ' ms')
    molt_ms: List[float] = []
    qemu_ms: List[float] = []
    for _ in range(repeat):    # alternating, as bench/qmp_bench.py
        molt_ms.append(qmp_ready_ms([molt, '-accel', accel, *MACHINE_ARGS, '-S',
                                     '-kernel', first]))
        if qemu:
            qemu_ms.append(qmp_ready_ms([qemu, '-accel', accel, *MACHINE_ARGS, '-S']))
    results[accel + ' exec->QMP ready ms'] = {'molt': molt_ms, 'QEMU': qemu_ms}
    row('%s: exec -> QMP ready, molt' % accel, triple(molt_ms, '%.1f') + ' ms')
    if qemu_ms:
        row('%s: exec -> QMP ready, QEMU 7.2' % accel, '%s ms (molt %.1fx faster)' % (
            triple(qemu_ms, '%.1f'), statistics.median(qemu_ms) / statistics.median(molt_ms)))


def dirtier(molt: str, guests: str, accel: str, repeat: int, window: float,
            results: Dict[str, Any]) -> None:
    runs = [dirtier_rates(molt, os.path.join(guests, 'guest-dirtier'), accel, window)
            for _ in range(repeat)]
    results[accel + ' dirtier'] = runs
    plain = [r['plain'] / 1e6 for r in runs]
    tracked = [r['tracked'] / 1e6 for r in runs]
    ratio = [r['tracked'] / r['plain'] for r in runs]
    row('%s: dirtier, plain (before and after)' % accel,
        triple(plain, '%.3f') + ' M page touches/s')
    row('%s: dirtier, dirty tracking on' % accel, triple(tracked, '%.3f') + ' M page touches/s')
    row('%s: dirtier, tracked / plain (same process)' % accel, triple(ratio, '%.3f'))
    row('%s: dirtier, calc-dirty-rate dirty-bitmap' % accel,
        triple([float(r['dirty_rate_mb_s']) for r in runs], '%.0f') + ' MB/s')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('build', nargs='?', default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'build'))
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--window', type=float, default=4.0,
                    help='seconds per dirtier window (default 4)')
    ap.add_argument('--qemu', default=os.environ.get('QEMU', 'qemu-system-x86_64'))
    ap.add_argument('--accel', choices=['kvm', 'tcg'], action='append',
                    help='only this accelerator (repeatable; default: kvm where it opens, tcg)')
    ap.add_argument('--json', help='write every figure to this file')
    args = ap.parse_args()
    if not 1 <= args.window <= 50:
        ap.error('--window must be between 1 and 50 s (calc-time is at most 60)')
    molt = os.path.join(args.build, 'vmm', 'molt')
    guests = os.path.join(args.build, 'tests', 'guests')
    qemu = shutil.which(args.qemu)
    if not qemu:
        print('%s not found: exec -> QMP ready without the QEMU column' % args.qemu)
    net_ok = os.geteuid() == 0 and os.access('/dev/net/tun', os.W_OK) and shutil.which('ip')
    results: Dict[str, Any] = {}
    row('metric (min / median / max, %d runs)' % args.repeat, 'value')
    for accel in args.accel or accels():
        startup(molt, guests, accel, args.repeat, qemu, results)
        dirtier(molt, guests, accel, args.repeat, args.window, results)
        if not net_ok:
            row(accel + ': virtio-net UDP echo via TAP',
                'skipped: needs root, /dev/net/tun, iproute2')
            continue
        rates = [echo_rate(molt, os.path.join(guests, 'guest-echo'), accel, 2000)
                 for _ in range(args.repeat)]
        got = [r for r in rates if r]
        results[accel + ' echo round trips/s'] = rates
        row('%s: virtio-net UDP echo via TAP' % accel,
            (triple(got, '%.0f') + ' round trips/s') if got else 'failed')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as fp:
            json.dump(results, fp, indent=1)
            fp.write('\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (BenchError, OSError) as e:
        print('machine_bench: %s' % e, file=sys.stderr)
        sys.exit(1)
