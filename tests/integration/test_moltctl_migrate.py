"""moltctl migrate URI [--progress] between two real molt processes (tcg,
the dirtier guest, as tests/integration/test_migration.py): the progress
lines and the final figures on a pipe (not a terminal: plain lines), the
exit status (0 completed, 1 failed or cancelled, with error-desc on
stderr), --json, Ctrl-C cancelling, and a destination that is not there."""

import json
import os
import pty
import re
import signal
import socket
import subprocess
import time
from typing import Callable, List, Tuple

import pytest

from molt_harness import MOLTCTL, Molt, time_scale
from test_migration import DIRTIER, listening, machine_args, wait_for_text, wait_status

Done = subprocess.CompletedProcess
SIZE = r'\d+(\.\d)? (B|KiB|MiB|GiB)'
PROGRESS = re.compile(r'(setup|active( \[[#-]{20}\] +\d+%%  sent %s  left %s  \d+ MB/s  pass \d+'
                      r'(  expected downtime \d+ ms)?)?)$' % (SIZE, SIZE))
COMPLETED = re.compile(r'completed: total-time \d+ ms, downtime \d+ ms, setup-time \d+ ms, '
                       r'transferred %s, throughput \d+ MB/s$' % SIZE)


def moltctl(sock: str, *args: str, timeout: float = 60.0) -> Done:
    return subprocess.run([MOLTCTL, '-s', sock, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * time_scale())


def source_and_destination(start: Callable[..., Molt], tmp: str) -> Tuple[Molt, Molt, str]:
    """A running dirtier and a listening destination; returns them and the URI."""
    uri = 'unix:' + os.path.join(tmp, 'mig.sock')
    src_out = os.path.join(tmp, 'src.txt')
    src = start(*machine_args('tcg', src_out))
    dst = start(*machine_args('tcg', os.path.join(tmp, 'dst.txt')), '-incoming', uri)
    listening(dst)
    wait_for_text(src_out, 'dirtier: round 2 ok')
    return src, dst, uri


def hang_up_listener(path: str) -> socket.socket:
    """A "destination" at path that accepts one connection (later)."""
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(1)
    return lsock


def test_progress_to_completion(start, tmpdir_short) -> None:
    src, dst, uri = source_and_destination(start, tmpdir_short)
    r = moltctl(src.qmp_path, 'migrate', uri, '--progress')
    assert (r.returncode, r.stderr) == (0, ''), r
    lines = r.stdout.splitlines()
    assert lines, r.stdout
    assert COMPLETED.match(lines[-1]), lines[-1]
    for line in lines[:-1]:
        assert PROGRESS.match(line), line
    assert '\r' not in r.stdout   # not a terminal: no redrawing
    # The final line carries the source's own final figures.
    info = src.connect().ok('query-migrate')
    assert info['status'] == 'completed'
    assert 'total-time %d ms, downtime %d ms,' % (info['total-time'], info['downtime']) \
        in lines[-1]
    assert src.connect().ok('query-status')['status'] == 'postmigrate'
    assert wait_status(dst.connect(), ('completed',))['status'] == 'completed'


def test_progress_on_a_terminal(start, tmpdir_short) -> None:
    """On a terminal the line is redrawn in place: carriage return, the
    line, erase to its end; the final figures replace it."""
    src, _, uri = source_and_destination(start, tmpdir_short)
    master, slave = pty.openpty()
    p = subprocess.Popen([MOLTCTL, '-s', src.qmp_path, 'migrate', uri, '--progress'],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b''
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:   # EIO: the last writer closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=30 * time_scale()) == 0
    text = out.decode()
    assert text.startswith('\r') and text.endswith('\r\n'), repr(text)
    redraws = text[:-2].split('\r')
    assert redraws[0] == '' and redraws[-1].startswith('\033[Kcompleted: '), repr(text)
    assert COMPLETED.match(redraws[-1][3:]), repr(text)
    for line in redraws[1:-1]:
        assert line.endswith('\033[K') and PROGRESS.match(line[:-3]), repr(line)


def test_progress_json(start, tmpdir_short) -> None:
    src, _, uri = source_and_destination(start, tmpdir_short)
    r = moltctl(src.qmp_path, '--json', 'migrate', uri, '--progress')
    assert (r.returncode, r.stderr) == (0, ''), r
    replies = [json.loads(line) for line in r.stdout.splitlines()]
    assert replies[-1]['status'] == 'completed'
    assert replies[-1]['ram']['remaining'] == 0
    assert all(x['status'] in ('setup', 'active') for x in replies[:-1])
    assert replies[-1] == src.connect().ok('query-migrate')


def test_migrate_uri_without_progress(start, tmpdir_short) -> None:
    src, dst, uri = source_and_destination(start, tmpdir_short)
    r = moltctl(src.qmp_path, 'migrate', uri)
    assert (r.returncode, r.stdout, r.stderr) == (0, '', '')
    assert wait_status(src.connect(), ('completed', 'failed'))['status'] == 'completed'


def test_failed_migration_exits_1_with_the_error(start, tmpdir_short) -> None:
    path = os.path.join(tmpdir_short, 'mig.sock')
    src_out = os.path.join(tmpdir_short, 'src.txt')
    src = start(*machine_args('tcg', src_out))
    lsock = hang_up_listener(path)
    wait_for_text(src_out, 'dirtier: round 2 ok')
    p = subprocess.Popen([MOLTCTL, '-s', src.qmp_path, 'migrate', 'unix:' + path, '--progress'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lsock.settimeout(20)
    c, _ = lsock.accept()
    c.close()
    out, err = p.communicate(timeout=30 * time_scale())
    info = src.connect().ok('query-migrate')
    assert info['status'] == 'failed'
    assert p.returncode == 1
    assert err == 'moltctl: migration failed: %s\n' % info['error-desc']
    assert out.splitlines()[-1].startswith('failed: total-time %d ms, ' % info['total-time'])
    assert src.connect().ok('query-status')['status'] == 'running'


def test_no_destination(start, tmpdir_short) -> None:
    src = start(*machine_args('tcg', os.path.join(tmpdir_short, 'src.txt')))
    path = os.path.join(tmpdir_short, 'nobody.sock')
    extras: List[List[str]] = [[], ['--progress'], ['--json', '--progress']]
    for extra in extras:
        r = moltctl(src.qmp_path, 'migrate', 'unix:' + path, *extra)
        assert (r.returncode, r.stdout) == (1, '')
        assert r.stderr == "moltctl: Failed to connect to '%s': No such file or directory\n" \
            % path
    assert src.connect().ok('query-status')['status'] == 'running'


def read_lines_until(p: 'subprocess.Popen[str]', pattern: str) -> List[str]:
    assert p.stdout is not None
    lines: List[str] = []
    deadline = time.monotonic() + 20 * time_scale()
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.match(pattern, line):
            return lines
    raise AssertionError('no %r in %r' % (pattern, lines))


def test_ctrl_c_cancels(start, tmpdir_short) -> None:
    path = os.path.join(tmpdir_short, 'mig.sock')
    src = start(*machine_args('tcg', os.path.join(tmpdir_short, 'src.txt')))
    lsock = hang_up_listener(path)
    # A slow channel that nobody reads: the migration stays active.
    src.connect().ok('migrate-set-parameters', {'max-bandwidth': 1 << 20})
    p = subprocess.Popen([MOLTCTL, '-s', src.qmp_path, 'migrate', 'unix:' + path, '--progress'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lsock.settimeout(20)
    c, _ = lsock.accept()
    try:
        read_lines_until(p, r'active \[')
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30 * time_scale())
    finally:
        c.close()
    assert p.returncode == 1
    info = src.connect().ok('query-migrate')
    assert info['status'] == 'cancelled'
    assert err == ('moltctl: interrupted: cancelling the migration\n'
                   'moltctl: migration cancelled\n'), err
    assert out.splitlines()[-1].startswith('cancelled: total-time ')
    assert src.connect().ok('query-status')['status'] == 'running'


def test_figures_move_during_the_first_pass(start, tmpdir_short) -> None:
    """query-migrate's RAM figures grow during a pass (every 64 MiB sent),
    not only at its end: 128 MiB of dirtier at 32 MiB/s is a 4 s pass."""
    uri = 'unix:' + os.path.join(tmpdir_short, 'mig.sock')
    src_out = os.path.join(tmpdir_short, 'src.txt')
    guest = ['-accel', 'tcg', '-m', '128M', '-kernel', DIRTIER]
    src = start(*guest, '-serial', 'file:' + src_out)
    dst = start(*guest, '-serial', 'null', '-incoming', uri)
    listening(dst)
    wait_for_text(src_out, 'dirtier: round 1 ok')
    src.connect().ok('migrate-set-parameters', {'max-bandwidth': 32 << 20})
    p = subprocess.Popen([MOLTCTL, '-s', src.qmp_path, '--json', 'migrate', uri, '--progress'],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    seen = []
    try:
        for line in p.stdout:
            info = json.loads(line)
            seen.append(info)
            ram = info.get('ram', {})
            if ram.get('dirty-sync-count') != 0 or 0 < ram['remaining'] < ram['total']:
                break
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30 * time_scale())
    ram = seen[-1]['ram']
    assert ram['dirty-sync-count'] == 0, seen
    assert 0 < ram['remaining'] <= ram['total'] - (64 << 20)
    assert ram['total'] == 128 << 20 and ram['transferred'] > 0


@pytest.mark.parametrize('argv, text', [
    (['query-status', '--progress'], '--progress is an option of migrate only'),
    (['migrate', 'unix:/a', 'unix:/b'], "argument 'unix:/b' is not KEY=VALUE"),
])
def test_usage_errors(start, argv: List[str], text: str) -> None:
    m = start('-S')
    r = moltctl(m.qmp_path, *argv)
    assert (r.returncode, r.stdout) == (1, '')
    assert text in r.stderr, r.stderr
