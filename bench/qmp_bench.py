#!/usr/bin/env python3
"""Benchmark: QMP round trips per second and start-up to QMP-ready time,
molt side by side with QEMU, measured by the same client in one run.

Servers, each a fresh process per run, alternating molt, QEMU, molt, ...:
  molt                -S -nodefaults -display none -qmp unix:SOCK,...
  qemu-system-x86_64  -accel tcg -S -nodefaults -display none -qmp ...
(both with server=on,wait=off).  Per run:
  start-up   spawn -> greeting read on a fresh connection and
             qmp_capabilities answered (connect polled every 1 ms);
  rate       on that connection, WARMUP then N sequential round trips of
             query-status, then the same for query-migrate-parameters:
             round trips/s, p50/p99 latency, CPU per round trip of the
             server (/proc/PID/task/*/schedstat) and of this client.
The client is a blocking socket, pre-encoded requests with a distinct
`id` each, and a read until the newline; its ceiling is measured in
every repeat against a canned-reply echo server in a separate process; the
spawn floor is the time to spawn and reap /bin/true.  Round trips cross
CPUs or not as the scheduler places client and server; --pin CPUS fixes
the placement of everything (client, echo server, molt, QEMU).

Without qemu-system-x86_64 it says so and reports molt alone.  Exit
status is non-zero only on errors: this is a benchmark, not a test.

Usage: qmp_bench.py [--molt PATH] [--qemu PATH] [-n N] [--warmup N]
                    [--repeat R] [--pin CPUS] [--json FILE]
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
COMMANDS = ('query-status', 'query-migrate-parameters')
COMMON_ARGS = ['-S', '-nodefaults', '-display', 'none']
SERVER_ARGS = {'molt': COMMON_ARGS,
               'QEMU': ['-accel', 'tcg'] + COMMON_ARGS}
RECV_TIMEOUT_S = 10
START_TIMEOUT_S = 20.0
CONNECT_POLL_S = 0.001
ECHO_PAD_BYTES = 700     # canned reply about query-migrate-parameters' size

Run = Dict[str, Any]


class BenchError(Exception):
    """A failure that ends the benchmark with status 1."""


class Client:
    """One blocking QMP connection: the only client code either server sees.

    SO_RCVTIMEO bounds every recv while the socket stays in Python's
    blocking mode, which avoids a poll() before each recv.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b''
        self.next_id = 0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack('ll', RECV_TIMEOUT_S, 0))

    @classmethod
    def connect(cls, path: str) -> 'Client':
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def close(self) -> None:
        self.sock.close()

    def read_line(self) -> bytes:
        nl = self.buf.find(b'\n')
        while nl < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError('QMP connection closed by the server')
            self.buf += chunk
            nl = self.buf.find(b'\n')
        line, self.buf = self.buf[:nl], self.buf[nl + 1:]
        return line

    def greeting(self) -> Dict[str, Any]:
        msg = json.loads(self.read_line())
        if not isinstance(msg, dict) or 'QMP' not in msg:
            raise BenchError('no QMP greeting: %r' % msg)
        greeting: Dict[str, Any] = msg['QMP']
        return greeting

    def command(self, name: str) -> Any:
        """Sends one command, skips events, returns its 'return' value."""
        self.next_id += 1
        ident = 'c%d' % self.next_id
        self.sock.sendall(json.dumps({'execute': name, 'id': ident}).encode()
                          + b'\n')
        while True:
            msg = json.loads(self.read_line())
            if msg.get('id') == ident:
                break
            if 'event' not in msg:
                raise BenchError('%s: unexpected message %r' % (name, msg))
        if 'return' not in msg:
            raise BenchError('%s: %r' % (name, msg.get('error', msg)))
        return msg['return']

    def round_trips(self, name: str, n: int) -> List[int]:
        """N sequential round trips of NAME; latencies in ns.

        Requests and the id tokens that match their replies are encoded
        before the loop; the loop only sends, reads to the newline and
        looks for the token, skipping event lines.
        """
        base = self.next_id
        self.next_id += n
        tokens = [b'"r%d"' % (base + i) for i in range(n)]
        head = b'{"execute": "%s", "id": ' % name.encode()
        requests = [head + t + b'}\n' for t in tokens]
        lat = [0] * n
        send, recv, clock = self.sock.sendall, self.sock.recv, \
            time.perf_counter_ns
        buf = self.buf
        for i in range(n):
            token = tokens[i]
            start = clock()
            send(requests[i])
            while True:
                nl = buf.find(b'\n')
                while nl < 0:
                    chunk = recv(65536)
                    if not chunk:
                        raise BenchError('QMP connection closed')
                    buf += chunk
                    nl = buf.find(b'\n')
                line, buf = buf[:nl], buf[nl + 1:]
                if token in line:
                    break
                if b'"event"' not in line:
                    raise BenchError('%s: unexpected %r' % (name, line))
            lat[i] = clock() - start
            if b'"return"' not in line:
                raise BenchError('%s: %r' % (name, line))
        self.buf = buf
        return lat


def task_cpu_ns(pid: int) -> Optional[int]:
    """CPU time of all of PID's threads (schedstat), None if unreadable."""
    total = 0
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return None
    for tid in tasks:
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, tid),
                      encoding='ascii') as fp:
                total += int(fp.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def measure(client: Client, name: str, n: int, warmup: int,
            pid: Optional[int]) -> Dict[str, Any]:
    """Warm-up, then N timed round trips of NAME with CPU accounting."""
    for _ in range(warmup):
        client.command(name)
    server0 = task_cpu_ns(pid) if pid else None
    client0 = time.process_time_ns()
    wall0 = time.perf_counter_ns()
    lat = client.round_trips(name, n)
    wall = time.perf_counter_ns() - wall0
    client_ns = time.process_time_ns() - client0
    server1 = task_cpu_ns(pid) if pid else None
    lat.sort()
    out = {
        'n': n,
        'rate_per_s': n / (wall / 1e9),
        'p50_us': lat[n // 2] / 1e3,
        'p99_us': lat[min(n - 1, n * 99 // 100)] / 1e3,
        'max_us': lat[-1] / 1e3,
        'client_cpu_us': client_ns / n / 1e3,
        'server_cpu_us': None,
    }
    if server0 is not None and server1 is not None:
        out['server_cpu_us'] = (server1 - server0) / n / 1e3
    return out


def wait_ready(proc: 'subprocess.Popen[bytes]', path: str,
               t0: int) -> Tuple[Client, Dict[str, Any], float]:
    """Polls connect every 1 ms; returns the negotiated client, the
    greeting and the ms from T0 (spawn) to qmp_capabilities answered."""
    while True:
        try:
            client = Client.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        if proc.poll() is not None:
            raise BenchError('exited with status %d before QMP was ready'
                             % proc.returncode)
        if time.perf_counter_ns() - t0 > START_TIMEOUT_S * 1e9:
            raise BenchError('QMP not ready after %.0f s' % START_TIMEOUT_S)
        time.sleep(CONNECT_POLL_S)
    greeting = client.greeting()
    client.command('qmp_capabilities')
    return client, greeting, (time.perf_counter_ns() - t0) / 1e6


def stop(proc: 'subprocess.Popen[bytes]', client: Optional[Client]) -> None:
    """quit over QMP if connected, then SIGTERM, then SIGKILL."""
    if client is not None:
        try:
            client.command('quit')
        except (OSError, BenchError, ValueError):
            pass
        client.close()
    for escalate in (proc.terminate, proc.kill):
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            escalate()
    proc.wait()


def one_run(binary: str, args: List[str], n: int,
            warmup: int) -> Run:
    """Spawns BINARY, measures start-up and both commands, stops it."""
    with tempfile.TemporaryDirectory(prefix='qmp-bench.') as tmp:
        path = os.path.join(tmp, 'qmp.sock')
        argv = [binary] + args + ['-qmp', 'unix:%s,server=on,wait=off'
                                  % path]
        with open(os.path.join(tmp, 'stderr'), 'w+b') as err:
            t0 = time.perf_counter_ns()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
            client = None
            try:
                client, greeting, ready_ms = wait_ready(proc, path, t0)
                run: Run = {'startup_ms': ready_ms,
                            'version': greeting.get('version', {})}
                for name in COMMANDS:
                    run[name] = measure(client, name, n, warmup, proc.pid)
                return run
            except (BenchError, OSError, ValueError) as e:
                err.seek(0)
                text = err.read().decode(errors='replace').strip()
                raise BenchError('%s: %s%s' % (' '.join(argv), e,
                                               '\n' + text if text else ''))
            finally:
                stop(proc, client)


def echo_serve(listener: socket.socket) -> None:
    """The ceiling's server: answers every line with a canned reply
    carrying the request's id; reads and writes in batches."""
    conn, _ = listener.accept()
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\n')
    head = (b'{"return": {"status": "prelaunch", "running": false, "pad": "'
            + b'x' * ECHO_PAD_BYTES + b'"}, "id": ')
    buf = b''
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk
        out = []
        nl = buf.find(b'\n')
        while nl >= 0:
            line, buf = buf[:nl], buf[nl + 1:]
            k = line.rfind(b'"id": ')
            out.append(head + line[k + 6:line.rfind(b'}')] + b'}\n')
            nl = buf.find(b'\n')
        conn.sendall(b''.join(out))


def client_ceiling(n: int, warmup: int) -> Dict[str, Any]:
    """The client against echo_serve() in a forked process: the highest
    rate this client can measure on this machine."""
    with tempfile.TemporaryDirectory(prefix='qmp-bench.') as tmp:
        path = os.path.join(tmp, 'echo.sock')
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        pid = os.fork()
        if pid == 0:
            try:
                echo_serve(listener)
            finally:
                os._exit(0)
        listener.close()
        client = Client.connect(path)
        try:
            client.greeting()
            return measure(client, 'query-status', n, warmup, pid)
        finally:
            client.close()
            os.waitpid(pid, 0)


def spawn_floor_ms(runs: int) -> List[float]:
    """Spawn -> exit of /bin/true: what no server's start-up can beat."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        subprocess.run(['/bin/true'], check=True)
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def cpu_list(text: str) -> List[int]:
    """'0', '0,1' or '0-3' -> CPU numbers."""
    cpus: List[int] = []
    for part in text.split(','):
        first, _, last = part.partition('-')
        cpus += range(int(first), int(last or first) + 1)
    return cpus


def machine() -> Dict[str, Any]:
    """What the numbers were measured on."""
    info: Dict[str, Any] = {'kernel': platform.release(),
                            'cpus': os.cpu_count(),
                            'python': platform.python_version()}
    for path, key, field in (('/proc/cpuinfo', 'cpu', 'model name'),
                             ('/proc/meminfo', 'memory', 'MemTotal')):
        try:
            with open(path, encoding='ascii', errors='replace') as fp:
                for line in fp:
                    if line.startswith(field):
                        info[key] = line.split(':', 1)[1].strip()
                        break
        except OSError:
            pass
    return info


def version_text(version: Dict[str, Any]) -> str:
    q = version.get('qemu', {})
    return '%s (QMP version %s.%s.%s)' % (
        version.get('package', '').strip() or '?', q.get('major'),
        q.get('minor'), q.get('micro'))


# (label, key in a run or (command, key), kind): kind 'rate' is compared
# as molt/QEMU, 'time' as QEMU/molt ("x faster"), 'info' not at all (the
# client's own CPU: the same code against both servers).
Metric = Tuple[str, Tuple[str, ...], str]


def metrics() -> List[Metric]:
    rows: List[Metric] = [('start-up to QMP ready, ms', ('startup_ms',),
                           'time')]
    for name in COMMANDS:
        rows += [('%s, round trips/s' % name, (name, 'rate_per_s'), 'rate'),
                 ('%s, p50 latency, us' % name, (name, 'p50_us'), 'time'),
                 ('%s, p99 latency, us' % name, (name, 'p99_us'), 'time'),
                 ('%s, server CPU/req, us' % name, (name, 'server_cpu_us'),
                  'time'),
                 ('%s, client CPU/req, us' % name, (name, 'client_cpu_us'),
                  'info')]
    return rows


def values(runs: Sequence[Run], key: Tuple[str, ...]) -> List[float]:
    out = []
    for r in runs:
        v: Any = r
        for k in key:
            v = v[k]
        if v is not None:
            out.append(float(v))
    return out


def summarize(results: Dict[str, List[Run]]) -> Dict[str, Any]:
    """Per metric: [min, median, max] per server and the ratio of medians
    (molt/QEMU for rates, QEMU/molt for times: "x faster")."""
    summary: Dict[str, Any] = {}
    for label, key, kind in metrics():
        row: Dict[str, Any] = {'kind': kind}
        for server, runs in results.items():
            v = values(runs, key)
            row[server] = ([min(v), statistics.median(v), max(v)]
                           if v else None)
        m, q = row.get('molt'), row.get('QEMU')
        row['ratio'] = None
        if m and q and m[1] > 0 and q[1] > 0 and kind != 'info':
            row['ratio'] = m[1] / q[1] if kind == 'rate' else q[1] / m[1]
        summary[label] = row
    return summary


def fmt(triple: Optional[List[float]]) -> str:
    if not triple:
        return '-'
    digits = 0 if max(triple) >= 100 else 1
    return ' / '.join('%.*f' % (digits, x) for x in triple)


def print_table(summary: Dict[str, Any]) -> None:
    print('%-46s %-24s %-24s %s' % ('metric', 'molt min / med / max',
                                    'QEMU min / med / max', 'molt vs QEMU'))
    for label, row in summary.items():
        ratio = row['ratio']
        text = '-'
        if ratio is not None:
            text = '%.1fx' % ratio + (' faster' if row['kind'] == 'time'
                                      else '')
        print('%-46s %-24s %-24s %s' % (label, fmt(row.get('molt')),
                                        fmt(row.get('QEMU')), text))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--molt', default=os.environ.get('MOLT') or os.path.join(
        TOP, 'build', 'vmm', 'molt'), help='molt binary (default $MOLT or '
        'build/vmm/molt)')
    ap.add_argument('--qemu', default=os.environ.get('QEMU') or
                    'qemu-system-x86_64',
                    help='QEMU binary (default $QEMU or on PATH)')
    ap.add_argument('-n', type=int, default=10000,
                    help='timed round trips per command (default 10000)')
    ap.add_argument('--warmup', type=int, default=200,
                    help='untimed round trips first (default 200)')
    ap.add_argument('--repeat', type=int, default=3,
                    help='fresh processes per server (default 3)')
    ap.add_argument('--pin', metavar='CPUS', type=cpu_list,
                    help='run client and servers on these CPUs only '
                    '(e.g. 0 or 0-1; default: wherever the scheduler puts '
                    'them)')
    ap.add_argument('--json', metavar='FILE',
                    help='also write every number to FILE')
    a = ap.parse_args()
    if a.n < 1 or a.warmup < 0 or a.repeat < 1:
        ap.error('-n and --repeat must be positive, --warmup not negative')
    return a


def main() -> int:
    a = parse_args()
    if not os.access(a.molt, os.X_OK):
        raise BenchError('molt binary %s not found (build it, or give '
                         '--molt / $MOLT)' % a.molt)
    servers = {'molt': os.path.abspath(a.molt)}
    qemu = shutil.which(a.qemu)
    if qemu:
        servers['QEMU'] = qemu
    else:
        print('%s not found: reporting molt alone' % a.qemu)
    if a.pin:
        os.sched_setaffinity(0, a.pin)
    info = machine()
    print('machine: %s, %s CPUs, %s, Linux %s' % (
        info.get('cpu'), info['cpus'], info.get('memory'), info['kernel']))
    print('%d runs per server, alternating; %d round trips per command '
          'after %d warm-up; CPUs: %s' % (
              a.repeat, a.n, a.warmup,
              ','.join(map(str, a.pin)) if a.pin else 'not pinned'))
    floor = spawn_floor_ms(max(a.repeat, 5))
    print('spawn floor (spawn -> exit of /bin/true): %s ms'
          % fmt([min(floor), statistics.median(floor), max(floor)]))
    ceiling: List[Dict[str, Any]] = []
    results: Dict[str, List[Run]] = {s: [] for s in servers}
    for _ in range(a.repeat):
        ceiling.append(client_ceiling(a.n, a.warmup))
        for server, binary in servers.items():
            results[server].append(one_run(binary, SERVER_ARGS[server],
                                           a.n, a.warmup))
    for server, binary in servers.items():
        print('%s: %s, %s' % (server, binary,
                              version_text(results[server][0]['version'])))
    rates = [c['rate_per_s'] for c in ceiling]
    print('client ceiling (canned-reply echo server): %s round trips/s, '
          'client CPU %.1f us/req' % (
              fmt([min(rates), statistics.median(rates), max(rates)]),
              statistics.median(c['client_cpu_us'] for c in ceiling)))
    summary = summarize(results)
    print_table(summary)
    if a.json:
        with open(a.json, 'w', encoding='utf-8') as fp:
            json.dump({'machine': info, 'n': a.n, 'warmup': a.warmup,
                       'repeat': a.repeat, 'pin': a.pin,
                       'servers': servers, 'spawn_floor_ms': floor,
                       'client_ceiling': ceiling, 'runs': results,
                       'summary': summary}, fp, indent=1)
            fp.write('\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (BenchError, OSError) as e:
        print('qmp_bench: %s' % e, file=sys.stderr)
        sys.exit(1)
