#!/usr/bin/python3
"""`make run`'s live update: a guest's network keeps answering while molt is
replaced under it, twice.

The echo guest (tests/guests/echo.c) runs behind a TAP in a network
namespace of the demo's own and answers UDP on 10.9.0.2:7777.  A client in
the namespace sends it a datagram every 10 ms, whatever happens, and
counts the answers.  Meanwhile:

  1. cpr-transfer: a new molt process is started beside the old one and
     receives the guest's RAM memfd and its TAP fd over the cpr channel
     (backend-transfer); the old one ends in postmigrate;
  2. cpr-exec: that process executes a new molt program in place (same
     pid), the fds kept open across exec, the device state in a file.

Each step prints the guest's pause as molt reports it and the longest wait
the client saw for an answer; at the end, the datagrams sent, answered
and lost (expected: none lost).  Needs root and /dev/net/tun; otherwise it
says why and exits 0.

Usage: live_update_demo.py BUILD_DIR
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

# A datagram every INTERVAL seconds for SECONDS, whatever the answers do,
# then up to 2 s for the last answers; one line per datagram:
# "<send time> <answer time, or ->" (CLOCK_MONOTONIC, as this process's).
CLIENT = r'''
import select, socket, sys, time
seconds, interval = float(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent, answers = {}, {}
start = time.monotonic()
while time.monotonic() < start + seconds + 2.0:
    now = time.monotonic()
    if now < start + seconds and now >= start + len(sent) * interval:
        s.sendto(b'datagram %d' % len(sent), ('10.9.0.2', 7777))
        sent[len(sent)] = now
    select.select([s], [], [], min(interval / 2, 0.002))
    while True:
        try:
            data, _ = s.recvfrom(2048)
        except BlockingIOError:
            break
        answers.setdefault(int(data.split()[1]), time.monotonic())
    if now >= start + seconds and len(answers) == len(sent):
        break
for n, t in sorted(sent.items()):
    print('%.6f %s' % (t, '%.6f' % answers[n] if n in answers else '-'))
'''

MAC = '52:54:00:12:34:56'


def say(text: str) -> None:
    print('\n\033[1m%s\033[0m' % text, flush=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError('%s: %s' % (' '.join(argv), r.stderr.strip()))
    return r


class Qmp:
    """A minimal QMP client (the demo shows moltctl for what people type)."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                self.buf = b''
                self.line()                       # greeting
                self.cmd('qmp_capabilities')
                return
            except (OSError, ValueError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def line(self) -> dict:
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ValueError('connection closed')
            self.buf += chunk
        raw, self.buf = self.buf.split(b'\n', 1)
        return json.loads(raw)

    def cmd(self, name: str, **args) -> dict:
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            reply = self.line()
            if 'return' in reply:
                return reply['return']
            if 'error' in reply:
                raise RuntimeError('%s: %s' % (name, reply['error']['desc']))

    def close(self) -> None:
        self.sock.close()


def wait_status(q: Qmp, wanted: tuple, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = q.cmd('query-migrate')
        if info.get('status') in wanted:
            return info
        time.sleep(0.02)
    raise TimeoutError('migration status %r' % info)


def client_results(out: str) -> List[Tuple[float, Optional[float]]]:
    """CLIENT's lines as (send time, answer time or None)."""
    results = []
    for line in out.splitlines():
        t, a = line.split()
        results.append((float(t), None if a == '-' else float(a)))
    return results


def longest_wait(results: List[Tuple[float, Optional[float]]], begin: float, end: float) -> float:
    """The longest send -> answer time (ms) of datagrams sent in [begin, end]."""
    waits = [a - t for t, a in results if a is not None and begin <= t <= end]
    return max(waits) * 1000 if waits else float('nan')


def main() -> int:
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    molt = os.path.abspath(os.path.join(build, 'vmm', 'molt'))
    ctl = os.path.abspath(os.path.join(build, 'cli', 'moltctl'))
    echo = os.path.abspath(os.path.join(build, 'tests', 'guests', 'guest-echo'))
    if os.geteuid() != 0 or not os.access('/dev/net/tun', os.W_OK) or not shutil.which('ip'):
        print('(skipped: the live update with a TAP needs root, /dev/net/tun and iproute2)')
        return 0
    ns = 'molt-demo-%d' % os.getpid()
    d = tempfile.mkdtemp(prefix='molt-live-')
    procs = []
    try:
        run('ip', 'netns', 'add', ns)
        in_ns = ['ip', 'netns', 'exec', ns]
        machine = ['-accel', 'tcg', '-m', '256M', '-kernel', echo,
                   '-object', 'memory-backend-memfd,id=ram0,size=256M,share=on',
                   '-machine', 'memory-backend=ram0',
                   '-netdev', 'tap,id=n0,ifname=molttap0,script=no,downscript=no',
                   '-device', 'virtio-net-device,netdev=n0,mac=%s,id=net0' % MAC]
        old_qmp, new_qmp = os.path.join(d, 'old.sock'), os.path.join(d, 'new.sock')
        main_sock, cpr_sock = os.path.join(d, 'main.sock'), os.path.join(d, 'cpr.sock')
        serial = [os.path.join(d, n) for n in ('serial-1.txt', 'serial-2.txt', 'serial-3.txt')]

        say('Live update 1/3. The echo guest boots behind TAP molttap0 in network namespace ' + ns)
        old = subprocess.Popen(in_ns + [molt, *machine, '-serial', 'file:' + serial[0],
                                        '-qmp', 'unix:%s,server=on,wait=off' % old_qmp])
        procs.append(old)
        deadline = time.monotonic() + 20
        while 'port 7777' not in (open(serial[0]).read() if os.path.exists(serial[0]) else ''):
            if time.monotonic() > deadline or old.poll() is not None:
                raise RuntimeError('the echo guest did not come up')
            time.sleep(0.05)
        run(*in_ns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
        run(*in_ns, 'ip', 'link', 'set', 'molttap0', 'up')
        ifindex = run(*in_ns, 'cat', '/sys/class/net/molttap0/ifindex').stdout.strip()
        print('guest: %s' % open(serial[0]).read().strip().splitlines()[-1])
        print('molttap0: ifindex %s; the host side is 10.9.0.1' % ifindex)

        seconds = 6.0
        client = subprocess.Popen(in_ns + [sys.executable, '-c', CLIENT, str(seconds), '0.01'],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(client)
        print('client: a datagram every 10 ms for %.0f s, answers counted' % seconds)
        time.sleep(1.0)

        say('Live update 2/3. cpr-transfer: a new molt process takes the guest '
            '(RAM memfd and TAP fd over the cpr channel)')
        cpr = {'transport': 'socket', 'type': 'unix', 'path': cpr_sock}
        new = subprocess.Popen(in_ns + [
            molt, *machine, '-serial', 'file:' + serial[1],
            '-qmp', 'unix:%s,server=on,wait=off' % new_qmp,
            '-incoming', 'config:mode=cpr-transfer,backend-transfer.0=virtio-net-tap',
            '-incoming', 'unix:' + main_sock,
            '-incoming', json.dumps({'channel-type': 'cpr', 'addr': cpr})])
        procs.append(new)
        while not os.path.exists(cpr_sock):
            time.sleep(0.01)
        print('$ moltctl -s old.sock migrate-set-parameters mode=cpr-transfer '
              'backend-transfer.0=virtio-net-tap')
        run(ctl, '-s', old_qmp, 'migrate-set-parameters', 'mode=cpr-transfer',
            'backend-transfer.0=virtio-net-tap')
        q = Qmp(old_qmp)
        print('$ migrate channels=[main unix:main.sock, cpr unix:cpr.sock]')
        t1 = time.monotonic()
        main_addr = {'transport': 'socket', 'type': 'unix', 'path': main_sock}
        q.cmd('migrate', channels=[{'channel-type': 'main', 'addr': main_addr},
                                   {'channel-type': 'cpr', 'addr': cpr}])
        info = wait_status(q, ('completed', 'failed'))
        if info['status'] != 'completed':
            raise RuntimeError('cpr-transfer failed: %s' % info.get('error-desc'))
        transfer_pause = info['downtime']
        print('old process: %s; guest paused %d ms (reported), %d bytes on the main channel'
              % (q.cmd('query-status')['status'], transfer_pause, info['ram']['transferred']))
        q.close()
        qn = Qmp(new_qmp)
        print('new process (pid %d): %s' % (new.pid, qn.cmd('query-status')['status']))
        qn.close()
        time.sleep(1.5)

        say('Live update 3/3. cpr-exec: the new process executes a fresh molt program '
            'in place (same pid, fds kept across exec)')
        state = os.path.join(d, 'vm.state')
        command = [molt, *machine, '-serial', 'file:' + serial[2],
                   '-qmp', 'unix:%s,server=on,wait=off' % new_qmp,
                   '-incoming', 'config:backend-transfer.0=virtio-net-tap',
                   '-incoming', 'file:' + state]
        q = Qmp(new_qmp)
        q.cmd('migrate-set-parameters', **{'mode': 'cpr-exec', 'cpr-exec-command': command,
                                           'backend-transfer': ['virtio-net-tap']})
        print('$ migrate file:vm.state   (mode cpr-exec, cpr-exec-command: molt ...)')
        t2 = time.monotonic()
        q.cmd('migrate', uri='file:' + state)
        q.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                qe = Qmp(new_qmp, timeout=1.0)
                info = qe.cmd('query-migrate')
                if info.get('status') == 'completed':
                    break
                qe.close()
            except (OSError, ValueError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError('the exec-ed molt did not come up')
            time.sleep(0.01)
        print('program replaced in place: pid %d, %s, state file %d bytes'
              % (new.pid, qe.cmd('query-status')['status'], os.path.getsize(state)))
        qe.close()

        out, _ = client.communicate(timeout=seconds + 30)
        results = client_results(out)
        sent, answered = len(results), sum(1 for _, a in results if a is not None)
        now_ifindex = run(*in_ns, 'cat', '/sys/class/net/molttap0/ifindex').stdout.strip()
        taps = run(*in_ns, 'ip', '-o', 'link', 'show', 'type', 'tun').stdout.count('\n')
        say('Result')
        print('cpr-transfer: guest paused %d ms (reported); longest answer wait around it %.0f ms'
              % (transfer_pause, longest_wait(results, t1 - 0.05, t1 + 1.0)))
        print('cpr-exec:     longest answer wait around it %.0f ms'
              % longest_wait(results, t2 - 0.05, t2 + 1.0))
        print('datagrams: %d sent, %d answered, %d lost' % (sent, answered, sent - answered))
        print('molttap0: ifindex %s (was %s); TAP interfaces in the namespace: %d'
              % (now_ifindex, ifindex, taps))
        last = open(serial[2]).read().strip().splitlines() if os.path.exists(serial[2]) else []
        print('guest, in the third program: %s' % (last[-1] if last else '(no output yet)'))
        return 0 if sent == answered else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        run('ip', 'netns', 'del', ns, check=False)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
