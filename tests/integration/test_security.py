"""Security properties of real molt processes: the files and UNIX sockets
molt creates are its user's alone whatever the umask (QMP, the serial
chardev, the migration and cpr listeners, the PID file, the serial log);
exec channels and cpr-exec-command pass their arguments as argv, with no
shell to interpret them; and a peer that sends more than a bound allows
is refused while the guest runs on.

(The cpr channel's SO_PEERCRED checks, both ways, are in test_cpr.py.)
"""

import contextlib
import json
import os
import stat
import time

import test_migration as base
from molt_harness import run_molt, time_scale
from test_cpr import cpr_channel, guest, wait_for_path


@contextlib.contextmanager
def umask(mask: int):
    """Processes started inside inherit this umask."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout * time_scale()
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_sockets_and_files_are_private_even_with_umask_0(start, tmpdir_short):
    """QEMU has no option for a socket's mode (SocketAddress has none):
    molt's are 0600, fixed; the PID file is 0600 as QEMU's, the serial
    log 0600 too.  Only -machine dumpdtb (public data) follows the umask."""
    p = {n: os.path.join(tmpdir_short, n)
         for n in ('serial.sock', 'mig.sock', 'pid', 'serial.txt', 'dtb')}
    with umask(0):
        a = start('-S', '-serial', 'unix:%s,server=on,wait=off' % p['serial.sock'],
                  '-incoming', 'unix:' + p['mig.sock'], '-pidfile', p['pid'])
        b = start('-S', '-serial', 'file:' + p['serial.txt'])
        assert run_molt('-S', '-machine', 'dumpdtb=' + p['dtb']).returncode == 0
    for path in (p['serial.sock'], p['mig.sock'], p['pid']):
        wait_until(lambda: os.path.exists(path), path)
    b.connect()
    assert mode(a.qmp_path) == 0o600 and mode(b.qmp_path) == 0o600
    assert {n: mode(p[n]) for n in ('serial.sock', 'mig.sock', 'pid', 'serial.txt')} == \
        {'serial.sock': 0o600, 'mig.sock': 0o600, 'pid': 0o600, 'serial.txt': 0o600}
    assert mode(p['dtb']) == 0o644


def test_cpr_listener_is_private_even_with_umask_0(start, tmpdir_short):
    out, cpr = (os.path.join(tmpdir_short, n) for n in ('dst.txt', 'cpr.sock'))
    with umask(0):
        start(*guest('tcg', out), '-incoming', 'config:mode=cpr-transfer',
              '-incoming', 'unix:' + os.path.join(tmpdir_short, 'main.sock'),
              '-incoming', cpr_channel(cpr), wait=False)
    wait_for_path(cpr)
    assert mode(cpr) == 0o600


def exec_source(start, tmpdir_short):
    out = os.path.join(tmpdir_short, 'src.txt')
    src = start(*guest('tcg', out))
    base.wait_for_text(out, 'dirtier: round 1 ok')
    q = src.connect()
    return src, q, out


RECORD_ARGV = ('import json, sys\n'
               'json.dump(sys.argv[1:], open(sys.argv[2], "w"))\n'
               'sys.stdin.buffer.read()\n')


def test_exec_channel_arguments_are_argv_not_a_shell_string(start, tmpdir_short):
    """migrate with an exec channel: each argument reaches the program as
    one argv element, shell metacharacters and all; nothing runs them."""
    pwned = os.path.join(tmpdir_short, 'PWNED')
    record = os.path.join(tmpdir_short, 'argv.json')
    tricky = 'x;touch %s $(touch %s) `touch %s` | > &' % (pwned, pwned, pwned)
    # A guest's RAM makes the stream larger than a pipe holds: the program
    # has run (and recorded its argv) by the time the migration completes.
    _, q, _ = exec_source(start, tmpdir_short)
    q.ok('stop')
    q.ok('migrate', {'channels': [{'channel-type': 'main', 'addr': {
        'transport': 'exec', 'args': ['/usr/bin/python3', '-c', RECORD_ARGV, tricky, record]}}]})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'completed', info
    with open(record) as f:
        assert json.load(f) == [tricky, record]
    assert not os.path.exists(pwned)


RECORD_AND_EXIT = '#!/usr/bin/python3\nimport json, sys\njson.dump(sys.argv, open(%r, "w"))\n'


def test_cpr_exec_command_is_argv_not_a_shell_string(start, tmpdir_short):
    """cpr-exec-command: the new program gets exactly the list as its
    argv (execvp), metacharacters untouched."""
    pwned = os.path.join(tmpdir_short, 'PWNED')
    record = os.path.join(tmpdir_short, 'argv.json')
    program = os.path.join(tmpdir_short, 'new-molt')
    with open(program, 'w') as f:
        f.write(RECORD_AND_EXIT % record)
    os.chmod(program, 0o700)
    src, q, _ = exec_source(start, tmpdir_short)
    command = [program, 'a b', 'x;touch ' + pwned, '$(touch %s)' % pwned, '*']
    q.ok('migrate-set-parameters', {'mode': 'cpr-exec', 'cpr-exec-command': command})
    q.ok('migrate', {'uri': 'file:' + os.path.join(tmpdir_short, 'vm.state')})
    # molt's process becomes the program, which records and exits.
    assert src.proc.wait(20 * time_scale()) == 0
    with open(record) as f:
        assert json.load(f) == command
    assert not os.path.exists(pwned)


def test_cpr_exec_command_with_metacharacters_in_argv0_cannot_execute(start, tmpdir_short):
    """argv[0] is a file name, never a command line: one with spaces and
    a ';' names no file, the exec fails, the guest runs on."""
    pwned = os.path.join(tmpdir_short, 'PWNED')
    src, q, out = exec_source(start, tmpdir_short)
    argv0 = '/bin/true; touch ' + pwned
    q.ok('migrate-set-parameters', {'mode': 'cpr-exec', 'cpr-exec-command': [argv0]})
    q.ok('migrate', {'uri': 'file:' + os.path.join(tmpdir_short, 'vm.state')})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'failed', info
    assert info['error-desc'] == ("cpr-exec: cannot execute '%s': No such file or directory"
                                  % argv0), info
    assert q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(out))
    base.wait_for_text(out, 'dirtier: round %d ok' % (before + 1))
    assert not os.path.exists(pwned)
    assert src.proc.poll() is None


def test_legacy_exec_uri_is_a_shell_command_as_in_qemu(start, tmpdir_short):
    """exec:CMD (the URI form) is QEMU's /bin/sh -c CMD: asking for a shell
    by writing it, the user gets one - here a pipeline, which only a shell
    runs.  (A guest's RAM makes the stream larger than a pipe holds, so the
    pipeline has run by the time the migration completes.)"""
    state = os.path.join(tmpdir_short, 'vm.state')
    src, q, _ = exec_source(start, tmpdir_short)
    q.ok('stop')
    q.ok('migrate', {'uri': 'exec:cat | tee %s > /dev/null' % state})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'completed', info

    def arrived() -> bool:
        with open(state, 'rb') as f:
            return os.path.getsize(state) > (1 << 20) and f.read(8) == b'MOLTMIG\n'
    wait_until(lambda: os.path.exists(state) and arrived(), 'the pipeline wrote no stream')


def test_unix_socket_path_over_the_kernels_limit_is_refused(tmpdir_short):
    """sun_path holds 107 bytes and a NUL: a longer path is a clear error,
    not a silently truncated name."""
    path = os.path.join(tmpdir_short, 'x' * 120)
    r = run_molt('-S', '-qmp', 'unix:%s,server=on,wait=off' % path)
    assert r.returncode == 1
    assert "UNIX socket path '%s' is too long" % path in r.stderr, r.stderr
