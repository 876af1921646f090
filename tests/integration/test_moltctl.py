"""moltctl, the QMP client for people, against a real molt process:
readable and --json output, KEY=VALUE arguments typed by the server's
query-qmp-schema (the server rejects strings for integers, so a value that
arrives proves the typing), keyval list syntax, JSON arguments, the
server's error texts passed through, events, the command list, and
connection failures (UNIX and TCP)."""

import json
import os
import re
import socket
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

from molt_harness import MOLTCTL, Molt, Qmp, wait_for_socket

Done = subprocess.CompletedProcess


def moltctl(sock: str, *args: str, timeout: float = 20.0) -> Done:
    return subprocess.run([MOLTCTL, '-s', sock, *args],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def ok(r: Done) -> None:
    """A success that printed nothing."""
    assert (r.returncode, r.stdout, r.stderr) == (0, '', ''), r


@pytest.fixture
def m(start: Callable[..., Molt]) -> Molt:
    return start('-S')


def params(m: Molt) -> Dict[str, Any]:
    q = m.connect()
    try:
        return q.ok('query-migrate-parameters')
    finally:
        q.close()


def server_error(m: Molt, command: str,
                 args: Optional[Dict[str, Any]] = None) -> str:
    """The desc the server gives for command sent directly, to compare
    with what moltctl prints."""
    q = m.connect()
    try:
        r = q.cmd(command, args)
    finally:
        q.close()
    assert 'error' in r, r
    return r['error']['desc']


def test_help() -> None:
    r = subprocess.run([MOLTCTL, '--help'], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    assert r.stdout.startswith('Usage: moltctl -s SOCK')
    assert 'events' in r.stdout and 'commands' in r.stdout


def test_query_status_readable(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'query-status')
    assert r.returncode == 0, r.stderr
    assert r.stderr == ''
    lines = r.stdout.splitlines()
    assert 'status: prelaunch' in lines
    assert 'running: false' in lines


def test_nested_objects_indented(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'query-version')
    assert r.returncode == 0, r.stderr
    nested = r'^qemu:\n  major: \d+\n  minor: \d+\n  micro: \d+$'
    assert re.search(nested, r.stdout, re.M), r.stdout


def test_list_of_objects_as_items(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'query-commands')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(line.startswith('- name: ') for line in lines)
    assert '- name: query-status' in lines


def test_json_output_has_every_member(m: Molt) -> None:
    r = moltctl(m.qmp_path, '--json', 'query-migrate-parameters')
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith('\n') and r.stdout.count('\n') == 1
    got = json.loads(r.stdout)
    q = m.connect()
    schema = {e['name']: e for e in q.ok('query-qmp-schema')}
    ret = schema[schema['query-migrate-parameters']['ret-type']]
    assert set(got) == {mem['name'] for mem in ret['members']}
    assert got == q.ok('query-migrate-parameters')


def test_empty_return_prints_nothing(m: Molt) -> None:
    ok(moltctl(m.qmp_path, 'migrate-set-parameters', 'xbzrle=on'))
    r = moltctl(m.qmp_path, '--json', 'migrate-set-parameters', 'xbzrle=off')
    assert (r.returncode, r.stdout, r.stderr) == (0, '{}\n', '')


def test_values_typed_by_introspection(m: Molt) -> None:
    # The server takes no strings for integers: only typing makes this work.
    desc = server_error(m, 'migrate-set-parameters', {'downtime-limit': '200'})
    assert 'expects' in desc
    ok(moltctl(m.qmp_path, 'migrate-set-parameters', 'downtime-limit=200',
               'max-bandwidth=1G', 'xbzrle=yes', 'zero-page-detection=legacy'))
    p = params(m)
    assert p['downtime-limit'] == 200
    assert p['max-bandwidth'] == 1073741824
    assert p['xbzrle'] is True
    assert p['zero-page-detection'] == 'legacy'
    r = moltctl(m.qmp_path, 'query-migrate-parameters')
    lines = r.stdout.splitlines()
    assert 'downtime-limit: 200' in lines
    assert 'max-bandwidth: 1073741824' in lines


@pytest.mark.parametrize('text, value', [
    ('4k', 4096), ('0x1000', 4096), ('1.5M', 1572864), ('2T', 2 << 40)])
def test_size_suffixes(m: Molt, text: str, value: int) -> None:
    ok(moltctl(m.qmp_path, 'migrate-set-parameters', 'max-bandwidth=' + text))
    assert params(m)['max-bandwidth'] == value


def test_list_syntax(m: Molt) -> None:
    ok(moltctl(m.qmp_path, 'migrate-set-parameters',
               'backend-transfer.0=virtio-net-tap'))
    assert params(m)['backend-transfer'] == ['virtio-net-tap']
    # A comma in a value is just a comma (moltctl doubles it for keyval).
    ok(moltctl(m.qmp_path, 'migrate-set-parameters', 'cpr-exec-command.0=a,b',
               'cpr-exec-command.1=c'))
    assert params(m)['cpr-exec-command'] == ['a,b', 'c']
    r = moltctl(m.qmp_path, 'query-migrate-parameters')
    lines = r.stdout.splitlines()
    assert 'backend-transfer: virtio-net-tap' in lines
    assert 'cpr-exec-command: a,b, c' in lines


@pytest.mark.parametrize('word, args', [
    ('multifd-channels=0', {'multifd-channels': 0}),
    ('bogus=1', {'bogus': '1'}),
    ('mode=bogus', {'mode': 'bogus'}),
])
def test_server_error_text_passed_through(m: Molt, word: str,
                                          args: Dict[str, Any]) -> None:
    before = params(m)
    desc = server_error(m, 'migrate-set-parameters', args)
    r = moltctl(m.qmp_path, 'migrate-set-parameters', word)
    assert (r.returncode, r.stdout) == (1, '')
    assert r.stderr == 'moltctl: %s\n' % desc
    assert params(m) == before


@pytest.mark.parametrize('word, message', [
    ('downtime-limit=abc', "Parameter 'downtime-limit' expects integer"),
    ('downtime-limit=12junk', "Parameter 'downtime-limit' expects integer"),
    ('xbzrle=maybe', "Parameter 'xbzrle' expects 'on' or 'off'"),
    ('downtime-limit', "argument 'downtime-limit' is not KEY=VALUE"),
])
def test_bad_value_clear_error(m: Molt, word: str, message: str) -> None:
    before = params(m)
    r = moltctl(m.qmp_path, 'migrate-set-parameters', word)
    assert (r.returncode, r.stdout, r.stderr) == (1, '',
                                                  'moltctl: %s\n' % message)
    assert params(m) == before


def test_union_variant_members_typed(m: Molt) -> None:
    # addr is a union: 'offset' is a member of its 'file' variant only.
    words = ['channels.0.channel-type=main', 'channels.0.addr.transport=file',
             'channels.0.addr.filename=/nonexistent']
    r = moltctl(m.qmp_path, 'migrate-incoming', *words,
                'channels.0.addr.offset=abc')
    assert (r.returncode, r.stderr) == (
        1, "moltctl: Parameter 'channels.0.addr.offset' expects integer\n")
    # Typed, the arguments get as far as the server's own checks.
    addr = {'transport': 'file', 'filename': '/nonexistent', 'offset': 4096}
    desc = server_error(m, 'migrate-incoming', {
        'channels': [{'channel-type': 'main', 'addr': addr}]})
    r = moltctl(m.qmp_path, 'migrate-incoming', *words,
                'channels.0.addr.offset=4k')
    assert (r.returncode, r.stderr) == (1, 'moltctl: %s\n' % desc)


def test_keyval_error(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'migrate-set-parameters', 'cpr-exec-command.0=a',
                'cpr-exec-command.x=b')
    assert r.returncode == 1
    assert r.stderr.startswith('moltctl: ')
    assert 'cpr-exec-command' in r.stderr


def test_unknown_command(m: Molt) -> None:
    for before, after in (([], []), (['--json'], []), ([], ['a=1'])):
        r = moltctl(m.qmp_path, *before, 'nosuch', *after)
        assert (r.returncode, r.stdout) == (1, '')
        assert r.stderr == 'moltctl: The command nosuch has not been found\n'


def test_json_arguments(m: Molt) -> None:
    ok(moltctl(m.qmp_path, 'migrate-set-parameters',
               '{"downtime-limit": 400, "xbzrle": true,'
               ' "backend-transfer": ["virtio-net-tap"]}'))
    p = params(m)
    assert p['downtime-limit'] == 400
    assert p['xbzrle'] is True
    assert p['backend-transfer'] == ['virtio-net-tap']
    # Verbatim: no typing, so the server sees (and rejects) the string.
    desc = server_error(m, 'migrate-set-parameters', {'downtime-limit': '500'})
    r = moltctl(m.qmp_path, 'migrate-set-parameters',
                '{"downtime-limit": "500"}')
    assert (r.returncode, r.stderr) == (1, 'moltctl: %s\n' % desc)
    for bad in ('{"downtime-limit": ', '{} extra'):
        r = moltctl(m.qmp_path, 'migrate-set-parameters', bad)
        assert r.returncode == 1
        assert r.stderr.startswith('moltctl: JSON arguments: '), r.stderr
    assert params(m)['downtime-limit'] == 400


def test_commands(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'commands')
    assert r.returncode == 0, r.stderr
    names = r.stdout.splitlines()
    assert 'query-status' in names and 'migrate-set-parameters' in names
    assert names == sorted(names)
    q = m.connect()
    assert set(names) == {c['name'] for c in q.ok('query-commands')}
    r = moltctl(m.qmp_path, '--json', 'commands')
    assert {c['name'] for c in json.loads(r.stdout)} == set(names)


def test_missing_socket(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, 'nothing.sock')
    r = moltctl(path, 'query-status')
    assert (r.returncode, r.stdout) == (1, '')
    assert r.stderr == ("moltctl: Failed to connect to '%s': "
                        "No such file or directory\n" % path)


@pytest.mark.parametrize('argv, text', [
    (['query-status'], 'no QMP socket given'),
    (['-s', 'x'], 'no command given'),
    (['-s', 'x', '--bogus', 'query-status'], "unknown option '--bogus'"),
    (['-s', 'x', 'events', '--count', '0'], '--count expects'),
    (['-s', 'x', 'events', '--timeout', 'soon'], '--timeout expects'),
    (['-s', 'x', 'commands', 'extra'], 'unexpected argument'),
])
def test_usage_errors(argv: List[str], text: str) -> None:
    r = subprocess.run([MOLTCTL, *argv], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith('moltctl: ') and text in r.stderr, r.stderr


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        port: int = s.getsockname()[1]
        return port


def test_tcp(start: Callable[..., Molt]) -> None:
    port = free_port()
    m = start('-S', '-qmp', 'tcp:127.0.0.1:%d,server=on,wait=off' % port)
    wait_for_socket(m.qmp_path, m.proc)
    r = moltctl('tcp:127.0.0.1:%d' % port, 'query-status')
    assert r.returncode == 0, r.stderr
    assert 'status: prelaunch' in r.stdout.splitlines()
    r = moltctl('tcp:127.0.0.1:%d' % free_port(), 'query-status')
    assert r.returncode == 1
    assert r.stderr.endswith("': Connection refused\n"), r.stderr


# --- events ----------------------------------------------------------------

def start_events(m: Molt, *args: str) -> subprocess.Popen:
    """moltctl events, once it is connected (its socket is open) and has
    had time to negotiate; callers retry when the event came too early."""
    p = subprocess.Popen([MOLTCTL, '-s', m.qmp_path, *args],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    fd_dir = '/proc/%d/fd' % p.pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and p.poll() is None:
        try:
            links = [os.readlink(os.path.join(fd_dir, f))
                     for f in os.listdir(fd_dir)]
            if any(link.startswith('socket:') for link in links):
                break
        except OSError:
            pass
        time.sleep(0.01)
    time.sleep(0.2)
    return p


def events_around(m: Molt, args: List[str],
                  action: Callable[[Qmp], Any]) -> Done:
    """Runs moltctl events ARGS while action(q) runs on another client;
    tries again (after stop) if moltctl was not listening yet."""
    q = m.connect()
    err = ''
    for _ in range(5):
        p = start_events(m, *args)
        action(q)
        out, err = p.communicate(timeout=20)
        if p.returncode == 0:
            return Done(p.args, p.returncode, out, err)
        q.ok('stop')
    raise AssertionError('moltctl events never saw the event: %s' % err)


def test_events_count_resume(m: Molt) -> None:
    r = events_around(m, ['events', '--count', '1', '--timeout', '5'],
                      lambda q: q.ok('cont'))
    assert r.stderr == ''
    assert re.fullmatch(r'\d+\.\d{6} RESUME\n', r.stdout), r.stdout


def test_events_json(m: Molt) -> None:
    r = events_around(m, ['--json', 'events', '--count', '1', '--timeout',
                          '5'], lambda q: q.ok('cont'))
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event['event'] == 'RESUME'
    assert set(event['timestamp']) == {'seconds', 'microseconds'}


def test_events_until_connection_closes(m: Molt) -> None:
    p = start_events(m, 'events')
    m.connect().cmd('quit')
    out, err = p.communicate(timeout=20)
    assert (p.returncode, err) == (0, '')
    shutdown = r'\d+\.\d{6} SHUTDOWN guest=false reason=host-qmp-quit\n'
    assert re.fullmatch(shutdown, out), out


def test_events_timeout(m: Molt) -> None:
    r = moltctl(m.qmp_path, 'events', '--count', '1', '--timeout', '0.3')
    assert (r.returncode, r.stdout) == (1, '')
    assert r.stderr == 'moltctl: timed out after 0 of 1 events\n'
    ok(moltctl(m.qmp_path, 'events', '--timeout', '0.3'))


def test_events_before_reply_are_skipped(m: Molt) -> None:
    # cont's RESUME event reaches moltctl before cont's reply.
    ok(moltctl(m.qmp_path, 'cont'))
    r = moltctl(m.qmp_path, 'query-status')
    assert 'status: running' in r.stdout.splitlines()
