#!/usr/bin/env python3
"""Benchmark: the guest's pause in a live update (cpr-transfer, cpr-exec),
beside normal live migration of the same size of guest, molt's and Debian
QEMU 7.2's, in the same run (all on tcg).

Per guest RAM size (default 1 GiB and 8 GiB) and repeat:

  molt, live update  the echo guest (tests/guests/echo.c) with its RAM in a
                     memfd of that size, behind a TAP in a network namespace
                     of the bench's own; a client in the namespace sends a
                     datagram every millisecond and times each answer.  The
                     guest moves to a new molt process (cpr-transfer, RAM
                     memfd and TAP fd handed over: backend-transfer), then
                     that process executes a new molt program (cpr-exec).
                     Figures: the pause molt reports for cpr-transfer
                     (query-migrate downtime: STOP to the new process's
                     confirmation), and for both the pause the traffic saw:
                     the longest send -> answer time around the update (the
                     normal round trip is ~0.2 ms), and datagrams lost.
  normal migration   bench/migration_bench.py's run: an all-zero guest of
                     the same size migrated over a unix socket to a fresh
                     destination, molt and QEMU 7.2 side by side: reported
                     downtime and STOP -> RESUME (event timestamps).

Needs root, /dev/net/tun and iproute2 for the live-update rows.

Usage: cpr_bench.py [--molt PATH] [--qemu PATH] [--sizes 1G,8G] [--repeat N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, 'scripts'))
import migration_bench  # noqa: E402
from live_update_demo import CLIENT, Qmp, client_results, longest_wait, wait_status  # noqa: E402


def run(*argv: str) -> str:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('%s: %s' % (' '.join(argv), r.stderr.strip()))
    return r.stdout


def live_update(molt: str, echo: str, size: int, tmp: str) -> Dict[str, Any]:
    """One cpr-transfer and one cpr-exec of the echo guest under traffic."""
    ns = 'molt-cprbench-%d' % os.getpid()
    run('ip', 'netns', 'add', ns)
    in_ns = ['ip', 'netns', 'exec', ns]
    procs: List[subprocess.Popen] = []
    try:
        mib = size >> 20
        machine = ['-accel', 'tcg', '-m', '%dM' % mib, '-kernel', echo, '-display', 'none',
                   '-object', 'memory-backend-memfd,id=ram0,size=%dM,share=on' % mib,
                   '-machine', 'memory-backend=ram0',
                   '-netdev', 'tap,id=n0,ifname=molttap0,script=no,downscript=no',
                   '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:12:34:56,id=net0']
        qmp1, qmp2 = os.path.join(tmp, 'q1.sock'), os.path.join(tmp, 'q2.sock')
        main, cpr = os.path.join(tmp, 'main.sock'), os.path.join(tmp, 'cpr.sock')
        serial = os.path.join(tmp, 'serial.txt')
        old = subprocess.Popen(in_ns + [molt, *machine, '-serial', 'file:' + serial,
                                        '-qmp', 'unix:%s,server=on,wait=off' % qmp1])
        procs.append(old)
        deadline = time.monotonic() + 30
        while 'port 7777' not in (open(serial).read() if os.path.exists(serial) else ''):
            if time.monotonic() > deadline:
                raise RuntimeError('the echo guest did not come up')
            time.sleep(0.02)
        run(*in_ns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
        run(*in_ns, 'ip', 'link', 'set', 'molttap0', 'up')
        cpr_addr = {'transport': 'socket', 'type': 'unix', 'path': cpr}
        new = subprocess.Popen(in_ns + [
            molt, *machine, '-serial', 'file:' + serial + '.2',
            '-qmp', 'unix:%s,server=on,wait=off' % qmp2,
            '-incoming', 'config:mode=cpr-transfer,backend-transfer.0=virtio-net-tap',
            '-incoming', 'unix:' + main,
            '-incoming', json.dumps({'channel-type': 'cpr', 'addr': cpr_addr})])
        procs.append(new)
        while not os.path.exists(cpr):
            time.sleep(0.01)
        client = subprocess.Popen(in_ns + [sys.executable, '-c', CLIENT, '3.5', '0.001'],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(client)
        time.sleep(1.0)
        q = Qmp(qmp1)
        q.cmd('migrate-set-parameters', **{'mode': 'cpr-transfer',
                                           'backend-transfer': ['virtio-net-tap']})
        t1 = time.monotonic()
        q.cmd('migrate', channels=[
            {'channel-type': 'main', 'addr': {'transport': 'socket', 'type': 'unix', 'path': main}},
            {'channel-type': 'cpr', 'addr': cpr_addr}])
        info = wait_status(q, ('completed', 'failed'))
        q.close()
        if info['status'] != 'completed':
            raise RuntimeError('cpr-transfer: %s' % info.get('error-desc'))
        time.sleep(1.0)
        state = os.path.join(tmp, 'vm.state')
        command = [molt, *machine, '-serial', 'file:' + serial + '.3',
                   '-qmp', 'unix:%s,server=on,wait=off' % qmp2,
                   '-incoming', 'config:backend-transfer.0=virtio-net-tap',
                   '-incoming', 'file:' + state]
        q = Qmp(qmp2)
        q.cmd('migrate-set-parameters', **{'mode': 'cpr-exec', 'cpr-exec-command': command,
                                           'backend-transfer': ['virtio-net-tap']})
        t2 = time.monotonic()
        q.cmd('migrate', uri='file:' + state)
        q.close()
        out, _ = client.communicate(timeout=60)
        results = client_results(out)
        calm = [a - t for t, a in results if a is not None and t < t1 - 0.1]
        return {
            'transfer_reported_ms': float(info['downtime']),
            'transfer_traffic_ms': longest_wait(results, t1 - 0.05, t1 + 0.9),
            'exec_traffic_ms': longest_wait(results, t2 - 0.05, t2 + 0.9),
            'rtt_ms': statistics.median(calm) * 1e3 if calm else float('nan'),
            'sent': len(results),
            'lost': sum(1 for _, a in results if a is None),
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


def normal_migration(vmm: str, binary: str, size: int, tmp: str) -> Dict[str, Any]:
    a = argparse.Namespace(multifd=0, max_bandwidth=1 << 40, downtime_limit=300, settle=0.3,
                           timeout=300)
    case = migration_bench.Case(size, 'zero', 'unix', 'ram')
    r = migration_bench.one_run(vmm, binary, case, a, tmp, None)
    return {'reported_ms': float(r['downtime_ms']), 'stop_resume_ms': r['stop_resume_ms'],
            'total_ms': r['total_ms']}


def span(values: List[float]) -> str:
    v = sorted(x for x in values if x == x)
    if not v:
        return '-'
    med = statistics.median(v)
    return '%.1f (%.1f-%.1f)' % (med, v[0], v[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--molt', default=os.path.join(TOP, 'build', 'vmm', 'molt'))
    ap.add_argument('--qemu', default=shutil.which('qemu-system-x86_64') or '')
    ap.add_argument('--sizes', default='1G,8G')
    ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    molt = os.path.abspath(a.molt)
    echo = os.path.join(os.path.dirname(os.path.dirname(molt)), 'tests', 'guests', 'guest-echo')
    can_net = os.geteuid() == 0 and os.access('/dev/net/tun', os.W_OK) and shutil.which('ip')
    if not can_net:
        print('(live-update rows skipped: they need root, /dev/net/tun and iproute2)')
    print('median (min-max) of %d runs, ms; tcg; load average %.1f'
          % (a.repeat, os.getloadavg()[0]))
    for size in (migration_bench.parse_size(s) for s in a.sizes.split(',')):
        rows: Dict[str, List[Dict[str, Any]]] = {'live': [], 'molt': [], 'QEMU': []}
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory(prefix='molt-cprb-') as tmp:
                if can_net:
                    rows['live'].append(live_update(molt, echo, size, tmp))
                rows['molt'].append(normal_migration('molt', molt, size, tmp))
                if a.qemu:
                    rows['QEMU'].append(normal_migration('QEMU', a.qemu, size, tmp))
        label = migration_bench.size_label(size)
        print('\n%s guest RAM' % label)
        live = rows['live']
        if live:
            print('  molt cpr-transfer   reported %s   traffic saw %s   lost %d of %d'
                  % (span([r['transfer_reported_ms'] for r in live]),
                     span([r['transfer_traffic_ms'] for r in live]),
                     sum(r['lost'] for r in live), sum(r['sent'] for r in live)))
            print('  molt cpr-exec       traffic saw %s   (round trip otherwise %s)'
                  % (span([r['exec_traffic_ms'] for r in live]), span([r['rtt_ms'] for r in live])))
        for vmm in ('molt', 'QEMU'):
            if rows[vmm]:
                print('  %-4s migration     reported %s   STOP->RESUME %s   total %s'
                      % (vmm, span([r['reported_ms'] for r in rows[vmm]]),
                         span([r['stop_resume_ms'] for r in rows[vmm]]),
                         span([r['total_ms'] for r in rows[vmm]])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
