"""Running molt for integration tests: real processes, real sockets.

`Molt` starts the molt binary (path from $MOLT) with a QMP UNIX socket in
a temporary directory, waits until the socket answers, and stops the
process at the end (quit, then SIGKILL if it hangs).  `Qmp` is a minimal
synchronous QMP client that keeps events apart from replies and can pass
file descriptors with a request (SCM_RIGHTS).
"""

import json
import os
import shutil
import socket
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence

MOLT = os.environ.get('MOLT', 'molt')
MOLTCTL = os.environ.get('MOLTCTL', 'moltctl')
MOLT_KEYVAL = os.environ.get('MOLT_KEYVAL', 'molt-keyval')
GUESTS = os.environ.get('MOLT_GUESTS', '')


def guest(name: str) -> str:
    """The path of test guest NAME (tests/guests/NAME.c) as built."""
    return os.path.join(GUESTS, 'guest-' + name)


def kvm_usable() -> bool:
    """Whether /dev/kvm opens here (else kvm tests skip; the nested lane runs them).
    With MOLT_REQUIRE_KVM=1 (set by the nested KVM lane) a /dev/kvm that does
    not open raises RuntimeError, so the test fails instead of skipping."""
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
        return True
    except OSError as err:
        if os.environ.get('MOLT_REQUIRE_KVM') == '1':
            raise RuntimeError('MOLT_REQUIRE_KVM=1 but /dev/kvm does not open: %s' % err)
        return False


def time_scale() -> float:
    """How much slower than usual this machine runs guests ($MOLT_TIME_SCALE;
    the nested KVM lane sets it): timeouts are multiplied by it."""
    return float(os.environ.get('MOLT_TIME_SCALE', '1'))


def rss_comparable() -> bool:
    """Whether a process's resident memory says anything about what molt
    keeps: not in the sanitizer lane ($MOLT_SANITIZER_LANE), where ASan
    holds freed memory in its quarantine and shadow - LeakSanitizer checks
    for leaks there instead."""
    return not os.environ.get('MOLT_SANITIZER_LANE')


def net_unusable_reason() -> str:
    """Why TAP tests cannot run here ('' if they can)."""
    if os.geteuid() != 0:
        return 'needs root (network namespaces, TAP)'
    if not os.access('/dev/net/tun', os.R_OK | os.W_OK):
        return '/dev/net/tun is not available'
    if shutil.which('ip') is None:
        return 'iproute2 (ip) is not installed'
    return ''


def in_ns(ns: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    """Runs argv inside network namespace ns."""
    return subprocess.run(['ip', 'netns', 'exec', ns, *argv], capture_output=True, text=True,
                          timeout=60 * time_scale(), **kw)


def wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ''
            raise RuntimeError('molt exited with %s: %s' % (proc.returncode, err))
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.01)
    raise TimeoutError('QMP socket %s did not appear' % path)


class Qmp:
    """One QMP connection."""

    def __init__(self, path: Optional[str] = None, sock: Optional[socket.socket] = None,
                 negotiate: bool = True, timeout: float = 10) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b''
        self.events: List[Dict[str, Any]] = []
        self.greeting = self.recv_raw()
        if negotiate:
            r = self.cmd('qmp_capabilities')
            assert r == {'return': {}}, r

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes, fds: Sequence[int] = ()) -> None:
        if fds:
            self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        bytes(memoryview(bytearray().join(
                                            int(f).to_bytes(4, 'little') for f in fds))))])
        else:
            self.sock.sendall(data)

    def recv_line(self) -> Optional[bytes]:
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line

    def recv_raw(self) -> Dict[str, Any]:
        line = self.recv_line()
        if line is None:
            raise EOFError('QMP connection closed')
        return json.loads(line)

    def recv_reply(self) -> Dict[str, Any]:
        """The next reply; events met on the way are kept in .events."""
        while True:
            msg = self.recv_raw()
            if 'event' in msg:
                self.events.append(msg)
                continue
            return msg

    def execute(self, text: str, fds: Sequence[int] = ()) -> Dict[str, Any]:
        self.send_raw(text.encode() + b'\n', fds)
        return self.recv_reply()

    def cmd(self, name: str, args: Optional[Dict[str, Any]] = None,
            fds: Sequence[int] = (), **extra: Any) -> Dict[str, Any]:
        req: Dict[str, Any] = {'execute': name}
        if args is not None:
            req['arguments'] = args
        req.update(extra)
        return self.execute(json.dumps(req), fds)

    def ok(self, name: str, args: Optional[Dict[str, Any]] = None) -> Any:
        r = self.cmd(name, args)
        assert 'return' in r, r
        return r['return']

    def wait_event(self, name: str, timeout: float = 10.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e['event'] == name:
                    return self.events.pop(i)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            msg = self.recv_raw()
            self.events.append(msg) if 'event' in msg else None
            if time.monotonic() > deadline:
                raise TimeoutError(name)


class Molt:
    """A molt process with a QMP socket at .qmp_path (unique per process)."""

    count = 0

    def __init__(self, tmpdir: str, *args: str, qmp: bool = True,
                 wait: bool = True, netns: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None) -> None:
        Molt.count += 1
        self.qmp_path = os.path.join(tmpdir, 'qmp%d.sock' % Molt.count)
        # ip netns exec runs molt in place of itself: proc.pid is molt's.
        argv = ['ip', 'netns', 'exec', netns, MOLT] if netns else [MOLT]
        if qmp:
            argv += ['-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path]
        argv += list(args)
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **env) if env else None)
        if qmp and wait:
            wait_for_socket(self.qmp_path, self.proc)

    def connect(self, negotiate: bool = True) -> Qmp:
        return Qmp(self.qmp_path, negotiate=negotiate)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                q = self.connect()
                q.cmd('quit')
                q.close()
                self.proc.wait(5)
            except (OSError, EOFError, subprocess.TimeoutExpired, TimeoutError):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


ACCEL_NOTICE = 'molt: /dev/kvm is not available; using the tcg accelerator\n'


def errors(stderr: str) -> str:
    """stderr without the notice of the accelerator fallback (printed where
    /dev/kvm does not open and no -accel was given)."""
    return stderr[len(ACCEL_NOTICE):] if stderr.startswith(ACCEL_NOTICE) else stderr


def run_molt(*args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs molt to completion (for options that make it exit)."""
    return subprocess.run([MOLT, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
