"""QMP conformance: molt's monitor against the protocol as QEMU 7.2 speaks
it (../shared/reference/qapi.md section 4): greeting, negotiation, the
checks of a request and their texts, id echo, exec-oob, unknown commands,
argument errors, events, several clients, fd passing, limits and
misbehaving clients.  Every test runs a real molt and real sockets."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from molt_harness import Qmp, rss_comparable, time_scale


def greeting_ok(g: dict) -> None:
    assert set(g) == {'QMP'}
    assert set(g['QMP']) == {'version', 'capabilities'}
    assert g['QMP']['capabilities'] == ['oob']
    v = g['QMP']['version']
    assert set(v['qemu']) == {'major', 'minor', 'micro'}
    assert all(isinstance(v['qemu'][k], int) for k in v['qemu'])
    assert v['package'].startswith('molt ')


def test_greeting_and_negotiation(start):
    m = start('-S')
    q = m.connect(negotiate=False)
    greeting_ok(q.greeting)
    r = q.cmd('query-status')
    assert r == {'error': {'class': 'CommandNotFound',
                           'desc': "Expecting capabilities negotiation with 'qmp_capabilities'"}}
    assert q.cmd('qmp_capabilities', id=1) == {'return': {}, 'id': 1}
    r = q.cmd('qmp_capabilities', id={'a': [1]})
    assert r == {'id': {'a': [1]}, 'error': {
        'class': 'CommandNotFound',
        'desc': 'Capabilities negotiation is already complete, command ignored'}}
    assert q.ok('query-status') == {'running': False, 'singlestep': False, 'status': 'prelaunch'}


@pytest.mark.parametrize('request_text,desc', [
    ('[]', 'QMP input must be a JSON object'),
    ('3', 'QMP input must be a JSON object'),
    ('{}', "QMP input lacks member 'execute'"),
    ('{"foo": 1}', "QMP input member 'foo' is unexpected"),
    ('{"execute": 1}', "QMP input member 'execute' must be a string"),
    ('{"execute": "query-status", "arguments": []}',
     "QMP input member 'arguments' must be an object"),
    ('{"execute": "query-status", "arguments": null}',
     "QMP input member 'arguments' must be an object"),
    ('{"exec-oob": "query-status"}', "QMP input member 'exec-oob' is unexpected"),
    ('{"execute": "query-status", "exec-oob": "query-status"}',
     "QMP input member 'exec-oob' is unexpected"),
    ('{"execute": "query-status" xyz}', 'JSON parse error, expected separator in dict'),
    ('tru', "JSON parse error, invalid keyword 'tru'"),
    ('{"execute": "nosuch"}', 'The command nosuch has not been found'),
    ('{"execute": "query-status", "arguments": {"x": 1}}', "Parameter 'x' is unexpected"),
    ('{"execute": "migrate-set-parameters", "arguments": {"downtime-limit": "x"}}',
     "Parameter 'downtime-limit' expects uint64"),
    ('{"execute": "migrate-set-parameters", "arguments": {"mode": "bogus"}}',
     "Parameter 'mode' does not accept value 'bogus'"),
    ('{"execute": "getfd", "arguments": {}}', "Parameter 'fdname' is missing"),
])
def test_malformed_requests(start, request_text, desc):
    q = start('-S').connect()
    r = q.execute(request_text)
    assert 'error' in r, r
    assert r['error']['desc'] == desc
    cls = 'CommandNotFound' if 'has not been found' in desc else 'GenericError'
    assert r['error']['class'] == cls
    # The session survives any of them.
    assert q.ok('query-status')['status'] == 'prelaunch'


def test_json_parse_error_then_recovery(start):
    q = start('-S').connect()
    r = q.execute('{"execute": "query-status" xyz}')
    assert r['error']['desc'].startswith('JSON parse error')
    # 'single-quoted' strings are QEMU's dialect too.
    assert q.execute("{'execute': 'query-name'}") == {'return': {}}


@pytest.mark.parametrize('request_id', [1, 'x', None, {'a': [1, {'b': None}]}, [1, 2], 1.5, True])
def test_id_echoed_verbatim(start, request_id):
    q = start('-S').connect()
    r = q.cmd('query-name', id=request_id)
    assert r == {'return': {}, 'id': request_id}
    r = q.cmd('nosuch', id=request_id)
    assert r['id'] == request_id and r['error']['class'] == 'CommandNotFound'
    # id comes back even when the request's shape is wrong.
    r = q.execute(json.dumps({'execute': 'query-name', 'id': request_id, 'bad': 1}))
    assert r['id'] == request_id
    assert r['error']['desc'] == "QMP input member 'bad' is unexpected"


def test_oob(start):
    q = start('-S').connect(negotiate=False)
    assert q.cmd('qmp_capabilities', {'enable': ['oob']}) == {'return': {}}
    r = q.execute('{"exec-oob": "query-status", "id": 1}')
    assert r == {'id': 1, 'error': {'class': 'GenericError',
                                    'desc': 'The command query-status does not support OOB'}}
    r = q.execute('{"execute": "query-status", "exec-oob": "query-status"}')
    assert r['error']['desc'] == "QMP input member 'execute' clashes with 'exec-oob'"
    r = q.cmd('qmp_capabilities', {'enable': ['bogus']})
    assert r['error']['class'] == 'CommandNotFound'


def test_negotiation_rejects_unknown_capability(start):
    q = start('-S').connect(negotiate=False)
    r = q.cmd('qmp_capabilities', {'enable': ['bogus']})
    assert r['error']['desc'] == "Parameter 'enable[0]' does not accept value 'bogus'"
    assert q.cmd('qmp_capabilities') == {'return': {}}


def test_lifecycle_events(start):
    m = start('-S')
    q = m.connect()
    watcher = m.connect()
    assert q.ok('cont') == {}
    for c in (q, watcher):
        e = c.wait_event('RESUME')
        assert set(e) == {'event', 'timestamp'}
        assert set(e['timestamp']) == {'seconds', 'microseconds'}
        assert abs(e['timestamp']['seconds'] - time.time()) < 60
        assert 0 <= e['timestamp']['microseconds'] < 1000000
    assert q.ok('query-status') == {'running': True, 'singlestep': False, 'status': 'running'}
    assert q.ok('stop') == {}
    assert watcher.wait_event('STOP')['event'] == 'STOP'
    assert q.ok('query-status')['status'] == 'paused'
    # stop when stopped: no event
    assert q.ok('stop') == {}
    assert q.ok('system_reset') == {}
    e = watcher.wait_event('RESET')
    assert e['data'] == {'guest': False, 'reason': 'host-qmp-system-reset'}
    assert not [e for e in watcher.events if e['event'] == 'STOP']
    # quit: SHUTDOWN, then the reply, then the process ends with status 0.
    q.send_raw(b'{"execute": "quit", "id": "q"}\n')
    lines = []
    while True:
        line = q.recv_line()
        if line is None:
            break
        lines.append(json.loads(line))
    assert lines[0]['event'] == 'SHUTDOWN'
    assert lines[0]['data'] == {'guest': False, 'reason': 'host-qmp-quit'}
    assert lines[1] == {'return': {}, 'id': 'q'}
    assert m.wait() == 0


def test_events_only_after_negotiation(start):
    m = start('-S')
    raw = m.connect(negotiate=False)
    q = m.connect()
    q.ok('cont')
    q.ok('stop')
    raw.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        raw.recv_line()


def test_signal_gives_shutdown_event(start):
    m = start('-S')
    q = m.connect()
    m.proc.send_signal(15)
    e = q.wait_event('SHUTDOWN')
    assert e['data'] == {'guest': False, 'reason': 'host-signal'}
    assert m.wait() == 0
    assert 'terminating on signal 15' in m.proc.stderr.read()
    assert not os.path.exists(m.qmp_path)


def test_query_commands_and_version(start):
    q = start('-S').connect()
    names = {c['name'] for c in q.ok('query-commands')}
    for n in ('qmp_capabilities', 'query-version', 'query-commands', 'query-qmp-schema',
              'query-name', 'query-status', 'stop', 'cont', 'system_reset', 'quit', 'getfd',
              'closefd', 'migrate-set-parameters', 'query-migrate-parameters',
              'migrate-set-capabilities', 'query-migrate-capabilities', 'precreate-exit'):
        assert n in names
    v = q.ok('query-version')
    assert v['package'].startswith('molt ') and v['qemu']['major'] >= 7
    assert v == q.greeting['QMP']['version']


def test_query_qmp_schema(start):
    q = start('-S').connect()
    schema = q.ok('query-qmp-schema')
    by_name = {e['name']: e for e in schema}
    cmd = by_name['query-migrate-parameters']
    assert cmd['meta-type'] == 'command'
    ret = by_name[cmd['ret-type']]
    members = {m['name'] for m in ret['members']}
    assert {'mode', 'backend-transfer', 'downtime-limit', 'multifd'} <= members
    ev = by_name['SHUTDOWN']
    assert ev['meta-type'] == 'event'


def test_query_name(start):
    m = start('-S', '-name', 'guest=vm1,process=molt-vm1')
    assert m.connect().ok('query-name') == {'name': 'vm1'}


def test_several_clients_and_listeners(start, tmpdir_short):
    port_sock = socket.socket()
    port_sock.bind(('127.0.0.1', 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    second = os.path.join(tmpdir_short, 'second.sock')
    m = start('-S', '-qmp', 'unix:%s,server=on,wait=off' % second,
              '-qmp', 'tcp:127.0.0.1:%d,server=on,wait=off' % port)
    clients = [m.connect() for _ in range(5)]
    clients.append(Qmp(second))
    tcp = socket.create_connection(('127.0.0.1', port))
    clients.append(Qmp(sock=tcp))
    for i, c in enumerate(clients):
        assert c.cmd('query-name', id=i) == {'return': {}, 'id': i}
    clients[0].ok('cont')
    for c in clients:
        assert c.wait_event('RESUME')['event'] == 'RESUME'
    for c in clients:
        c.close()
    assert m.connect().ok('query-status')['status'] == 'running'


def test_getfd_closefd(start, tmpdir_short):
    q = start('-S').connect()
    r = q.cmd('getfd', {'fdname': 'x'})
    assert r['error']['desc'] == 'No file descriptor supplied via SCM_RIGHTS'
    rd, wr = os.pipe()
    try:
        assert q.cmd('getfd', {'fdname': 'pipe0'}, fds=[wr]) == {'return': {}}
        r = q.cmd('getfd', {'fdname': '1abc'}, fds=[wr])
        assert r['error']['desc'] == "Parameter 'fdname' expects a name not starting with a digit"
        os.close(wr)
        wr = -1
        # molt holds the write end: no EOF yet.
        os.set_blocking(rd, False)
        with pytest.raises(BlockingIOError):
            os.read(rd, 1)
        assert q.cmd('closefd', {'fdname': 'pipe0'}) == {'return': {}}
        os.set_blocking(rd, True)
        assert os.read(rd, 1) == b''   # molt closed its copy: EOF
        r = q.cmd('closefd', {'fdname': 'pipe0'})
        assert r['error']['desc'] == "File descriptor named 'pipe0' not found"
    finally:
        os.close(rd)
        if wr >= 0:
            os.close(wr)


def test_named_fds_are_bounded(start):
    """getfd keeps at most 128 named fds: the 129th name is refused (its
    fd closed), replacing a name still works, closefd makes room, and
    molt's fd table stays small."""
    m = start('-S')
    q = m.connect()
    rd, wr = os.pipe()
    try:
        for i in range(128):
            assert q.cmd('getfd', {'fdname': 'f%d' % i}, fds=[wr]) == {'return': {}}
        r = q.cmd('getfd', {'fdname': 'one-more'}, fds=[wr])
        assert r['error']['desc'] == ('Too many named file descriptors (the limit is 128); '
                                      'close some with closefd first'), r
        assert q.cmd('getfd', {'fdname': 'f0'}, fds=[wr]) == {'return': {}}
        assert q.cmd('closefd', {'fdname': 'f1'}) == {'return': {}}
        assert q.cmd('getfd', {'fdname': 'one-more'}, fds=[wr]) == {'return': {}}
        assert len(os.listdir('/proc/%d/fd' % m.proc.pid)) < 128 + 64
        assert q.ok('query-status')['status'] == 'prelaunch'
    finally:
        os.close(rd)
        os.close(wr)


def test_fd_flood_is_bounded(start):
    """A client sending many fds without getfd cannot exhaust molt's fd table."""
    m = start('-S')
    q = m.connect()
    rd, wr = os.pipe()
    for _ in range(200):
        q.send_raw(b' ', fds=[wr] * 8)
    assert q.ok('query-name') == {}
    os.close(wr)
    fds = len(os.listdir('/proc/%d/fd' % m.proc.pid))
    assert fds < 64, fds
    q.close()
    time.sleep(0.2)
    # Gone with the session: the write end is closed everywhere.
    os.set_blocking(rd, False)
    assert os.read(rd, 1) == b''
    os.close(rd)


def test_garbage_and_limits(start):
    m = start('-S')
    good = m.connect()
    bad = m.connect()
    # Garbage bytes: errors, but the session and the server survive.
    bad.send_raw(b'\x01\x02 @@@ }}} ]]] \xff\xfe\n')
    time.sleep(0.2)
    bad.send_raw(b'{"execute": "query-name"}\n')
    while True:
        r = bad.recv_raw()
        if 'return' in r:
            break
        assert r['error']['class'] == 'GenericError'
    # Nesting beyond the limit.
    bad.send_raw(b'[' * 2000 + b']' * 2000 + b'\n')
    r = bad.recv_reply()
    assert r['error']['desc'] == 'JSON nesting depth limit exceeded'
    assert good.ok('query-name') == {}


def test_oversized_message(start):
    m = start('-S')
    good = m.connect()
    big = m.connect()
    payload = b'{"execute": "query-name", "arguments": {"x": "' + b'a' * (9 << 20) + b'"}}\n'
    t = threading.Thread(target=lambda: big.sock.sendall(payload), daemon=True)
    t.start()
    r = big.recv_reply()
    assert r['error']['class'] == 'GenericError'
    assert 'JSON token size limit exceeded' in r['error']['desc'] or \
        'JSON' in r['error']['desc']
    t.join(10)
    assert good.ok('query-name') == {}


def test_client_that_never_reads_is_dropped_not_blocking(start):
    """A client that floods requests and never reads its replies stops being
    read, then is dropped; other clients keep being served promptly."""
    m = start('-S')
    good = m.connect()
    flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    flood.connect(m.qmp_path)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.sendall(b'{"execute": "qmp_capabilities"}\n')
    req = b'{"execute": "query-migrate-parameters"}\n' * 1000
    flood.settimeout(0.05)
    stop = time.monotonic() + 5
    sent = 0
    while time.monotonic() < stop:
        try:
            flood.send(req)
            sent += 1
        except (socket.timeout, BlockingIOError):
            pass
        except OSError:
            break
        t0 = time.monotonic()
        assert good.ok('query-name') == {}
        assert time.monotonic() - t0 < 1.0
    assert good.ok('query-status')['status'] == 'prelaunch'
    flood.close()


def test_client_disconnects_mid_request(start):
    m = start('-S')
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(m.qmp_path)
        s.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "query-qmp-sch')
        s.close()
    assert m.connect().ok('query-name') == {}
    assert m.proc.poll() is None


# The same requests to QEMU 7.2 (when installed) and to molt, over -qmp
# stdio: the replies must be the same, apart from timestamps.  Only
# requests whose replies do not depend on the implementation's command set
# or version are in the script.
PEER_SCRIPT = [
    '{"execute": "query-status"}',
    '{"execute": "qmp_capabilities", "id": 1}',
    '{"execute": "qmp_capabilities", "id": {"a": [1]}}',
    '[]', '{}', '{"foo": 1}', '{"execute": 1}',
    '{"execute": "query-status", "arguments": []}',
    '{"execute": "query-status", "exec-oob": "query-status"}',
    '{"exec-oob": "query-status", "id": 2}',
    '{"execute": "nosuch", "id": null}',
    '{"execute": "query-status", "arguments": {"x": 1}}',
    '{"execute": "migrate-set-parameters", "arguments": {"downtime-limit": "x"}}',
    '{"execute": "migrate-set-parameters", "arguments": {"nosuch": 1}}',
    '{"execute": "getfd", "arguments": {"fdname": "x"}}',
    '{"execute": "closefd", "arguments": {"fdname": "x"}}',
    '{"execute": "query-name"}',
    '{"execute": "query-status"}',
    '{"execute": "cont"}',
    '{"execute": "query-status"}',
    '{"execute": "stop"}',
    '{"execute": "stop"}',
    '{"execute": "query-status"}',
    '{"execute": "system_reset"}',
    '{"execute": "query-status", "id": "x", "foo": 1}',
    '{"execute": "query-status" xyz}',
    'tru',
    '{"execute": "query-status", "arguments": null}',
    '{"execute": "query-name", "control": {}}',
    '{"execute": "query-name", "id": 1, "id": 2}',
    '{"execute": "quit"}',
]


def run_script(argv):
    text = '\n'.join(PEER_SCRIPT) + '\n'
    p = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30)
    out = []
    for line in p.stdout.splitlines()[1:]:   # no greeting
        msg = json.loads(line)
        msg.pop('timestamp', None)
        out.append(msg)
    return out


@pytest.mark.skipif(shutil.which('qemu-system-x86_64') is None,
                    reason='qemu-system-x86_64 (the peer) is not installed')
def test_same_replies_as_qemu(tmpdir_short):
    from molt_harness import MOLT
    qemu = run_script(['qemu-system-x86_64', '-accel', 'tcg', '-S', '-nodefaults',
                       '-display', 'none', '-qmp', 'stdio'])
    molt = run_script([MOLT, '-S', '-nodefaults', '-display', 'none', '-qmp', 'stdio'])
    assert len(qemu) == len(PEER_SCRIPT) + 4   # + RESUME, STOP, RESET, SHUTDOWN
    for i, (a, b) in enumerate(zip(qemu, molt)):
        assert a == b, (i, a, b)
    assert len(qemu) == len(molt)


def cpu_seconds(pid: int) -> float:
    fields = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def test_paused_client_hanging_up_is_dropped_without_spinning(start):
    """A client paused for not reading, which then hangs up, is closed; the
    loop does not spin on its hang-up."""
    m = start('-S')
    flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.connect(m.qmp_path)
    flood.sendall(b'{"execute": "qmp_capabilities"}\n')
    flood.settimeout(0.2)
    req = b'{"execute": "query-qmp-schema"}\n' * 50
    try:
        for _ in range(200):
            flood.send(req)
    except (socket.timeout, OSError):
        pass
    flood.close()
    # What it had queued may be served first (slowly in the sanitizer
    # lane); then it goes idle: a loop spinning on the hang-up never does.
    deadline = time.monotonic() + 10 * time_scale()
    while True:
        before = cpu_seconds(m.proc.pid)
        time.sleep(1.0)
        used = cpu_seconds(m.proc.pid) - before
        if used < 0.2 or time.monotonic() > deadline:
            break
    assert used < 0.2
    assert m.connect().ok('query-name') == {}
    assert len(os.listdir('/proc/%d/fd' % m.proc.pid)) < 16


def peak_rss_kib(pid: int) -> int:
    with open('/proc/%d/status' % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))


def test_one_chunk_of_requests_for_big_replies_is_answered_as_read(start):
    """2000 requests for the schema (23 KiB each) in one 64 KiB read, from
    a client that reads nothing: they are handled only as their replies
    go out, not all at once - which made 46 MiB of output in one go,
    stalling every other client for most of a second."""
    m = start('-S')
    good = m.connect()
    assert good.ok('query-qmp-schema')
    peak = peak_rss_kib(m.proc.pid)
    flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.connect(m.qmp_path)
    flood.sendall(b'{"execute": "qmp_capabilities"}\n' +
                  b'{"execute": "query-qmp-schema"}\n' * 2000)
    time.sleep(0.2)
    t0 = time.monotonic()
    assert good.ok('query-name') == {}
    assert time.monotonic() - t0 < 0.25 * time_scale()
    # About 1 MiB of output waits for it, no more.
    assert peak_rss_kib(m.proc.pid) - peak < 8 << 10 or not rss_comparable()
    # It is not dropped: reading its replies, it gets every one.
    flood.settimeout(10 * time_scale())
    buf = b''
    while buf.count(b'\n') < 2002:
        chunk = flood.recv(1 << 20)
        assert chunk, buf.count(b'\n')
        buf += chunk
    lines = buf.split(b'\n')
    assert json.loads(lines[1]) == {'return': {}}
    assert all(line.startswith(b'{"return": [') for line in lines[2:2002])
    flood.close()
