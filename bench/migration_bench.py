#!/usr/bin/env python3
"""Benchmark: live migration, molt side by side with QEMU 7.2, both on tcg.

Per case (guest RAM size x RAM contents x transport), fresh processes per
run, alternating molt and QEMU (the order flips every repeat):
  source       running (not -S) with no guest code: molt without -kernel
               (its vCPU halted), QEMU's `pc` machine idling in SeaBIOS with
               no boot device; RAM from `-object memory-backend-...,id=ram0
               -machine memory-backend=ram0`, the same options for both:
                 zero    memory-backend-ram: all-zero RAM (SeaBIOS writes a
                         few pages of QEMU's);
                 random  memory-backend-file,share=off on a /dev/shm file
                         filled with pseudo-random bytes (every 4 KiB page
                         distinct and non-zero); MAP_PRIVATE, so neither
                         VMM can change the file;
  destination  the same machine with memory-backend-ram (or --dst-backend)
               and -incoming unix:SOCK or tcp:127.0.0.1:PORT.
Both get capability `events`; the source gets max-bandwidth (default 1 TiB/s:
QEMU's own default is 128 MiB/s) and downtime-limit (default 300 ms); then
`migrate`, and the source's MIGRATION event `completed` (or `failed`) ends
the wait; one query-migrate then gives the reported figures.
Per run:
  total-time, downtime, setup-time   as the source reports them (ms);
  wall                               `migrate` sent -> MIGRATION completed
                                     read by this client (ms);
  STOP -> RESUME                     source STOP event timestamp ->
                                     destination RESUME event timestamp
                                     (QMP timestamps are the host's wall
                                     clock, one host: comparable);
  throughput                         guest RAM bytes / total-time (GB/s,
                                     10^9): for zero RAM this is a scan rate,
                                     not bytes on the wire;
  transferred                        ram.transferred (MB, 10^6);
  dst start                          destination spawn -> QMP ready (ms):
                                     where --dst-backend ram-prealloc pays
                                     for touching its RAM.
After each run the destination's AnonHugePages (/proc/PID/smaps_rollup)
shows whether transparent huge pages backed the received RAM.

Without qemu-system-x86_64 it says so and reports molt alone.  Exit status
is non-zero only on errors: this is a benchmark, not a test.

Usage: migration_bench.py [--molt PATH] [--qemu PATH] [--sizes 1G,4G]
           [--fills zero,random] [--transports unix,tcp] [--repeat R]
           [--dst-backend ram|memfd|ram-prealloc] [--json FILE]
"""

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_bench import BenchError, Client, stop, wait_ready  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
COMMON_ARGS = ['-accel', 'tcg', '-nodefaults', '-display', 'none']
MACHINE = {'molt': 'memory-backend=ram0', 'QEMU': 'pc,memory-backend=ram0'}
DST_BACKENDS = {
    'ram': 'memory-backend-ram,id=ram0,size=%d',
    'memfd': 'memory-backend-memfd,id=ram0,size=%d',
    'ram-prealloc': 'memory-backend-ram,id=ram0,size=%d,prealloc=on',
}
GIB = 1 << 30

Run = Dict[str, Any]


class Qmp(Client):
    """bench/qmp_bench.py's client, keeping events (with the host time
    they were read) and waiting for them with a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.events: List[Dict[str, Any]] = []

    def call(self, name: str, args: Optional[Dict[str, Any]] = None) -> Any:
        req: Dict[str, Any] = {'execute': name}
        if args is not None:
            req['arguments'] = args
        self.sock.sendall(json.dumps(req).encode() + b'\n')
        while True:
            msg = json.loads(self.read_line())
            if 'event' not in msg:
                break
            msg['read_at'] = time.time()
            self.events.append(msg)
        if 'return' not in msg:
            raise BenchError('%s: %r' % (name, msg.get('error', msg)))
        return msg['return']

    def wait_event(self, name: str, timeout: float,
                   data: Optional[Tuple[str, Tuple[str, ...]]] = None) -> Dict[str, Any]:
        """The first event NAME (whose data[KEY] is in VALUES, if given),
        read before or within TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if e['event'] == name and (
                        data is None or e.get('data', {}).get(data[0]) in data[1]):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError('no %s event within %.0f s' % (name, timeout))
            if b'\n' not in self.buf:
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    continue
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise BenchError('QMP connection closed while waiting for ' + name)
                self.buf += chunk
            while b'\n' in self.buf:
                msg = json.loads(self.read_line())
                if 'event' in msg:
                    msg['read_at'] = time.time()
                    self.events.append(msg)


def connect(proc: 'subprocess.Popen[bytes]', path: str) -> Qmp:
    client, _, _ = wait_ready(proc, path, time.perf_counter_ns())
    q = Qmp(client.sock)
    q.buf = client.buf
    return q


def event_time(e: Dict[str, Any]) -> float:
    ts = e['timestamp']
    return float(ts['seconds']) + float(ts['microseconds']) / 1e6


def parse_size(text: str) -> int:
    units = {'M': 1 << 20, 'G': GIB}
    if text[-1:].upper() in units:
        return int(float(text[:-1]) * units[text[-1:].upper()])
    return int(text)


def size_label(size: int) -> str:
    return '%gG' % (size / GIB) if size % (GIB // 4) == 0 else '%dM' % (size >> 20)


def make_random_file(path: str, size: int) -> None:
    """SIZE pseudo-random bytes, every 4 KiB page distinct: a random MiB,
    re-used with each page's first 8 bytes replaced by its page number
    (so a deduplicating or zero-detecting sender gains nothing)."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    block = bytearray(os.urandom(1 << 20))
    with open(path + '.tmp', 'wb') as f:
        for mib in range(size >> 20):
            for page in range(256):
                n = mib * 256 + page + 1
                block[page * 4096:page * 4096 + 8] = n.to_bytes(8, 'little')
            f.write(block)
    os.rename(path + '.tmp', path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def anon_huge_mib(pid: int) -> Optional[float]:
    try:
        with open('/proc/%d/smaps_rollup' % pid, encoding='ascii') as f:
            for line in f:
                if line.startswith('AnonHugePages:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Case:
    def __init__(self, size: int, fill: str, transport: str, dst_backend: str) -> None:
        self.size, self.fill, self.transport = size, fill, transport
        self.dst_backend = dst_backend

    def label(self) -> str:
        text = '%s %s, %s' % (size_label(self.size), self.fill, self.transport)
        return text + ('' if self.dst_backend == 'ram' else ', dst ' + self.dst_backend)


def argv(vmm: str, binary: str, case: Case, backend: str, qmp: str,
         extra: List[str]) -> List[str]:
    return ([binary] + COMMON_ARGS + ['-m', '%dM' % (case.size >> 20),
                                      '-object', backend, '-machine', MACHINE[vmm],
                                      '-qmp', 'unix:%s,server=on,wait=off' % qmp] + extra)


def spawn(cmd: List[str], log: str) -> 'subprocess.Popen[bytes]':
    with open(log, 'wb') as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)


def final_info(src: Qmp) -> Dict[str, Any]:
    """query-migrate after completion.  QEMU 7.2 can publish `completed`
    before the times (total-time 0): asked again briefly in that case."""
    info: Dict[str, Any] = src.call('query-migrate')
    for _ in range(20):
        if info.get('total-time'):
            break
        time.sleep(0.01)
        info = src.call('query-migrate')
    return info


def wait_listening(dst: Qmp) -> None:
    """Until the destination says it listens: QEMU lists its socket
    address, molt reports status `setup`."""
    deadline = time.monotonic() + 10
    while True:
        info = dst.call('query-migrate')
        if 'socket-address' in info or info.get('status') == 'setup':
            return
        if time.monotonic() > deadline:
            raise BenchError('the destination does not listen: %r' % info)
        time.sleep(0.01)


def one_run(vmm: str, binary: str, case: Case, a: argparse.Namespace, tmp: str,
            fill_file: Optional[str]) -> Run:
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    src_qmp, dst_qmp = os.path.join(tmp, 'src.qmp'), os.path.join(tmp, 'dst.qmp')
    if case.fill == 'random':
        src_backend = ('memory-backend-file,id=ram0,size=%d,mem-path=%s,share=off'
                       % (case.size, fill_file))
    else:
        src_backend = 'memory-backend-ram,id=ram0,size=%d' % case.size
    dst_backend = DST_BACKENDS[case.dst_backend] % case.size
    if case.transport == 'unix':
        uri = 'unix:' + os.path.join(tmp, 'mig.sock')
    else:
        uri = 'tcp:127.0.0.1:%d' % free_port()
    procs: List[Tuple['subprocess.Popen[bytes]', Optional[Qmp]]] = []
    try:
        sp = spawn(argv(vmm, binary, case, src_backend, src_qmp, []),
                   os.path.join(tmp, 'src.log'))
        procs.append((sp, None))
        src = connect(sp, src_qmp)
        procs[-1] = (sp, src)
        t_dst = time.perf_counter()
        # multifd: QEMU's destination must have the capability before it
        # listens (-incoming defer, then migrate-incoming); molt's needs
        # nothing, but gets the same sequence.
        incoming = ['-incoming', 'defer' if a.multifd else uri]
        dp = spawn(argv(vmm, binary, case, dst_backend, dst_qmp, incoming),
                   os.path.join(tmp, 'dst.log'))
        procs.append((dp, None))
        dst = connect(dp, dst_qmp)
        procs[-1] = (dp, dst)
        dst_ready_ms = (time.perf_counter() - t_dst) * 1e3
        caps = [{'capability': 'events', 'state': True}]
        if a.multifd:
            caps.append({'capability': 'multifd', 'state': True})
        for q in (src, dst):
            q.call('migrate-set-capabilities', {'capabilities': caps})
            if a.multifd:
                q.call('migrate-set-parameters', {'multifd-channels': a.multifd})
        if a.multifd:
            dst.call('migrate-incoming', {'uri': uri})
        wait_listening(dst)
        src.call('migrate-set-parameters', {'max-bandwidth': a.max_bandwidth,
                                            'downtime-limit': a.downtime_limit})
        if src.call('query-status')['status'] != 'running':
            raise BenchError('the source is not running')
        time.sleep(a.settle)
        t0 = time.perf_counter()
        src.call('migrate', {'uri': uri})
        done = src.wait_event('MIGRATION', a.timeout, ('status', ('completed', 'failed')))
        wall_ms = (time.perf_counter() - t0) * 1e3
        info = final_info(src)
        if info.get('status') != 'completed':
            raise BenchError('migration %s: %s' % (info.get('status'), info.get('error-desc')))
        stop_ev = src.wait_event('STOP', 5)
        resume_ev = dst.wait_event('RESUME', 30)
        ram = info.get('ram', {})
        total = float(info['total-time'])
        return {
            'vmm': vmm, 'completed_event_status': done['data']['status'],
            'total_ms': total, 'downtime_ms': info.get('downtime'),
            'setup_ms': info.get('setup-time'), 'wall_ms': wall_ms,
            'stop_resume_ms': (event_time(resume_ev) - event_time(stop_ev)) * 1e3,
            'gbps': case.size / (total / 1e3) / 1e9,
            'transferred_mb': ram.get('transferred', 0) / 1e6,
            'normal_pages': ram.get('normal'), 'zero_pages': ram.get('duplicate'),
            'dirty_sync_count': ram.get('dirty-sync-count'),
            'dst_spawn_to_qmp_ms': dst_ready_ms,
            'dst_anon_huge_mib': anon_huge_mib(dp.pid),
            'loadavg_1min': os.getloadavg()[0],
        }
    except (BenchError, OSError, ValueError, KeyError) as e:
        logs = ''
        for name in ('src.log', 'dst.log'):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    text = f.read().strip()
                if text:
                    logs += '\n%s: %s' % (name, text[-1500:])
        raise BenchError('%s, %s: %s%s' % (vmm, case.label(), e, logs))
    finally:
        for proc, client in reversed(procs):
            stop(proc, client)


# (label, key, better): 'low' for times, 'high' for rates.
COLUMNS = [('total-time ms', 'total_ms', 'low'), ('wall ms', 'wall_ms', 'low'),
           ('downtime ms', 'downtime_ms', 'low'), ('STOP->RESUME ms', 'stop_resume_ms', 'low'),
           ('GB/s', 'gbps', 'high'), ('sent MB', 'transferred_mb', 'low'),
           ('dst start ms', 'dst_spawn_to_qmp_ms', 'low')]


def best_median(runs: List[Run], key: str, better: str) -> Optional[Tuple[float, float]]:
    v = [float(r[key]) for r in runs if r.get(key) is not None]
    if not v:
        return None
    return (min(v) if better == 'low' else max(v)), statistics.median(v)


def fmt(pair: Optional[Tuple[float, float]]) -> str:
    if pair is None:
        return '-'
    digits = 2 if max(pair) < 10 else 0
    return '%.*f / %.*f' % (digits, pair[0], digits, pair[1])


def print_case(case: Case, runs: Dict[str, List[Run]], limit: int) -> Dict[str, Any]:
    summary: Dict[str, Any] = {'case': case.label(), 'runs': runs}
    n = max(len(r) for r in runs.values())
    print('\n%s (%d runs each; best / median)' % (case.label(), n))
    print('  %-6s' % '' + ''.join('%-18s' % c[0] for c in COLUMNS) + 'dst THP MiB')
    for vmm, rs in runs.items():
        cells = [best_median(rs, key, better) for _, key, better in COLUMNS]
        summary[vmm] = {key: cell for (_, key, _), cell in zip(COLUMNS, cells)}
        huge = [r['dst_anon_huge_mib'] for r in rs if r.get('dst_anon_huge_mib') is not None]
        print('  %-6s' % vmm + ''.join('%-18s' % fmt(c) for c in cells)
              + ('%.0f' % statistics.median(huge) if huge else '-'))
    if 'molt' in runs and 'QEMU' in runs:
        m, q = summary['molt'], summary['QEMU']
        ratio = m['gbps'][1] / q['gbps'][1] if m['gbps'] and q['gbps'] else None
        summary['throughput_ratio'] = ratio
        if ratio:
            print('  molt / QEMU throughput (medians): %.2fx' % ratio)
    for vmm, rs in runs.items():
        worst = max((r['downtime_ms'] or 0) for r in rs)
        worst_wall = max(r['stop_resume_ms'] for r in rs)
        over = '' if max(worst, worst_wall) <= limit else '  ABOVE downtime-limit %d ms' % limit
        print('  %s: worst downtime %.0f ms reported, %.1f ms STOP->RESUME%s'
              % (vmm, worst, worst_wall, over))
    loads = [r['loadavg_1min'] for rs in runs.values() for r in rs]
    print('  load average (1 min) after the runs: %.1f-%.1f' % (min(loads), max(loads)))
    return summary


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--molt', default=os.environ.get('MOLT') or os.path.join(
        TOP, 'build', 'vmm', 'molt'), help='molt binary (default $MOLT or build/vmm/molt)')
    ap.add_argument('--qemu', default=os.environ.get('QEMU') or 'qemu-system-x86_64',
                    help='QEMU binary (default $QEMU or on PATH); "none": molt alone')
    ap.add_argument('--sizes', default='1G,4G', help='guest RAM sizes (default 1G,4G)')
    ap.add_argument('--fills', default='zero,random', help='RAM contents (default zero,random)')
    ap.add_argument('--transports', default='unix,tcp', help='default unix,tcp')
    ap.add_argument('--repeat', type=int, default=3, help='runs per VMM and case (default 3)')
    ap.add_argument('--dst-backend', choices=sorted(DST_BACKENDS), default='ram',
                    help="the destination's RAM backend (default ram)")
    ap.add_argument('--vmms', default='molt,QEMU', help='which VMMs (default molt,QEMU)')
    ap.add_argument('--max-bandwidth', type=int, default=1 << 40, help='bytes/s (default 1 TiB/s)')
    ap.add_argument('--downtime-limit', type=int, default=300, help='ms (default 300)')
    ap.add_argument('--multifd', type=int, default=0, metavar='N',
                    help='both VMMs send RAM over N multifd channels (default 0: off)')
    ap.add_argument('--settle', type=float, default=0.5,
                    help='seconds the source runs before migrate (default 0.5)')
    ap.add_argument('--timeout', type=float, default=180, help='per migration, s')
    ap.add_argument('--fill-dir', default='/dev/shm', help='where the random RAM file goes')
    ap.add_argument('--keep-fill', action='store_true', help='keep the random RAM files')
    ap.add_argument('--json', metavar='FILE', help='also write every number to FILE')
    a = ap.parse_args()
    a.sizes = [parse_size(s) for s in a.sizes.split(',')]
    a.fills = a.fills.split(',')
    a.transports = a.transports.split(',')
    a.vmms = a.vmms.split(',')
    if (a.repeat < 1 or not set(a.fills) <= {'zero', 'random'}
            or not set(a.transports) <= {'unix', 'tcp'} or not set(a.vmms) <= {'molt', 'QEMU'}):
        ap.error('bad --repeat, --fills, --transports or --vmms')
    return a


def main() -> int:
    a = parse_args()
    binaries: Dict[str, str] = {}
    if 'molt' in a.vmms:
        if not os.access(a.molt, os.X_OK):
            raise BenchError('molt binary %s not found (build it, or give --molt)' % a.molt)
        binaries['molt'] = os.path.abspath(a.molt)
    qemu = shutil.which(a.qemu) if a.qemu != 'none' else None
    if 'QEMU' in a.vmms:
        if qemu:
            binaries['QEMU'] = qemu
        else:
            print('%s not found: reporting molt alone' % a.qemu)
    thp = open('/sys/kernel/mm/transparent_hugepage/enabled').read().strip()
    print('max-bandwidth %d B/s, downtime-limit %d ms, multifd channels %d, destination '
          'backend %s; THP enabled: %s' % (a.max_bandwidth, a.downtime_limit, a.multifd,
                                           a.dst_backend, thp))
    summaries = []
    made: List[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix='migration-bench.') as tmp:
            for size in a.sizes:
                fill_file = os.path.join(a.fill_dir, 'molt-bench-random-%d.img' % size)
                if 'random' in a.fills and not os.path.exists(fill_file):
                    t = time.monotonic()
                    make_random_file(fill_file, size)
                    made.append(fill_file)
                    print('random RAM file %s written in %.1f s'
                          % (fill_file, time.monotonic() - t), flush=True)
                for fill in a.fills:
                    for transport in a.transports:
                        case = Case(size, fill, transport, a.dst_backend)
                        runs: Dict[str, List[Run]] = {v: [] for v in binaries}
                        order = list(binaries)
                        for i in range(a.repeat):
                            for vmm in (order if i % 2 == 0 else order[::-1]):
                                runs[vmm].append(one_run(vmm, binaries[vmm], case, a, tmp,
                                                         fill_file))
                        summaries.append(print_case(case, runs, a.downtime_limit))
                        sys.stdout.flush()
    finally:
        if not a.keep_fill:
            for f in made:
                os.unlink(f)
    if a.json:
        with open(a.json, 'w', encoding='utf-8') as fp:
            json.dump({'binaries': binaries, 'args': {k: v for k, v in vars(a).items()},
                       'cases': summaries}, fp, indent=1)
            fp.write('\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (BenchError, OSError) as e:
        print('migration_bench: %s' % e, file=sys.stderr)
        sys.exit(1)
