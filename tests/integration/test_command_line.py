"""The command line as operators meet it: every option's bad input ends
molt with one clear line and status 1 and leaves nothing behind (no QMP
socket, no pid file); -incoming config: and its precedence; backends
reading the early parameters; -precreate; -daemonize and -pidfile; help
and version.  Real molt processes throughout."""

import json
import os
import socket
import stat
import struct
import subprocess
import time

import pytest

from molt_harness import MOLT, Molt, Qmp, errors, kvm_usable, run_molt, wait_for_socket

# (arguments, the message molt must print after "molt: ")
BAD = [
    (['-incoming', 'config:multifd-channels=0'],
     "-incoming config:multifd-channels=0: Parameter 'multifd-channels' expects a value "
     "between 1 and 255"),
    (['-incoming', 'config:mode=bogus'],
     "-incoming config:mode=bogus: Parameter 'mode' does not accept value 'bogus'"),
    (['-incoming', 'config:nosuch=1'],
     "-incoming config:nosuch=1: Parameter 'nosuch' is unexpected"),
    (['-incoming', 'config:downtime-limit=1', '-incoming', 'config:downtime-limit=2'],
     '-incoming config:downtime-limit=2: Only one -incoming config:* is allowed.'),
    (['-incoming', 'config:{"downtime-limit": "x"}'],
     '-incoming config:{"downtime-limit": "x"}: Parameter \'downtime-limit\' expects uint64'),
    (['-incoming', 'config:downtime-limit=2000001'],
     "-incoming config:downtime-limit=2000001: Parameter 'downtime-limit' expects an integer "
     "in the range of 0 to 2000000 ms"),
    (['-incoming', 'config:max-cpu-throttle=5,cpu-throttle-initial=10'],
     "-incoming config:max-cpu-throttle=5,cpu-throttle-initial=10: Parameter "
     "'max-cpu-throttle' expects an integer in the range of cpu-throttle-initial to 99"),
    (['-global', 'migration.max-cpu-throttle=5', '-incoming', 'config:cpu-throttle-initial=10'],
     "-incoming config:cpu-throttle-initial=10: Parameter 'max-cpu-throttle' expects an "
     "integer in the range of cpu-throttle-initial to 99"),
    (['-incoming', 'config:multifd=on,postcopy-ram=on'],
     '-incoming config:multifd=on,postcopy-ram=on: Postcopy is not yet compatible with multifd'),
    (['-incoming', 'config:backend-transfer.0=foo'],
     "-incoming config:backend-transfer.0=foo: Parameter 'backend-transfer.0' does not accept "
     "value 'foo'"),
    (['-incoming', 'config:help'], '-incoming config:help: Help is not available for this option'),
    (['-global', 'migration.nosuch=1'],
     "can't apply global migration.nosuch=1: Property 'migration.nosuch' not found"),
    (['-global', 'migration.multifd-channels=0'],
     "can't apply global migration.multifd-channels=0: Parameter 'multifd-channels' expects a "
     "value between 1 and 255"),
    (['-global', 'foo.bar=1'],
     "-global foo.bar=1: can't apply global foo.bar=1: driver 'foo' not found"),
    (['-global', 'x'], '-global x: Invalid -global format: expected DRIVER.PROPERTY=VALUE'),
    (['-m', 'foo'], "-m foo: Parameter 'size' expects size"),
    (['-m', '0'], "-m 0: Parameter 'size' expects a value no less than 1048576"),
    (['-m', '1G,maxmem=512M'], '-m: invalid value of maxmem: maximum memory size must be at '
     'least the initial memory size'),
    (['-m', '1G,maxmem=2G'], '-m maxmem: memory hotplug is not supported yet by this molt'),
    (['-foo'], '-foo: invalid option'),
    (['-smp', 'cpus=x'], "-smp cpus=x: Parameter 'cpus' expects integer"),
    (['-smp', '0'], "-smp 0: Parameter 'cpus' expects a value between 1 and 255"),
    (['-smp', '4,maxcpus=2'],
     '-smp: Invalid CPU topology: maxcpus must be equal to or greater than smp'),
    (['-machine', 'foo'], '-machine foo: unsupported machine type'),
    (['-machine', 'memory-backend=m1'],
     "-machine memory-backend=m1: Memory backend 'm1' not found"),
    (['-machine', 'dumpdtb=/nonexistent/dir/x.dtb'],
     '-machine dumpdtb=/nonexistent/dir/x.dtb: cannot write the device tree: No such file or '
     'directory'),
    (['-accel', 'foo'], "-accel foo: Parameter 'accel' does not accept value 'foo'"),
    (['-object', 'memory-backend-memfd,id=m,size=x'],
     "-object memory-backend-memfd,id=m,size=x: Parameter 'size' expects size"),
    (['-object', 'foo,id=x'], "-object foo,id=x: Parameter 'qom-type' does not accept value 'foo'"),
    (['-object', 'memory-backend-ram,size=1M'],
     "-object memory-backend-ram,size=1M: Parameter 'id' is missing"),
    (['-object', 'memory-backend-ram,id=a,size=1M', '-object', 'memory-backend-ram,id=a,size=1M'],
     "-object a: attempt to add duplicate object id 'a'"),
    (['-object', 'memory-backend-file,id=f,size=1M,mem-path=/nonexistent/dir/f'],
     "-object f: can't open backing store /nonexistent/dir/f for guest RAM: "
     'No such file or directory'),
    (['-netdev', 'tap,id=n0,script=/etc/qemu-ifup', '-device', 'virtio-net-device,netdev=n0'],
     '-netdev n0: running scripts (use script=no,downscript=no) is not supported yet by this molt'),
    (['-netdev', 'tap,id=n0,vnet_hdr=off'],
     '-netdev n0: vnet_hdr=off is not supported yet by this molt'),
    (['-netdev', 'tap,id=n0,ifname=t0,fd=3'], '-netdev n0: ifname= and fd= exclude each other'),
    (['-netdev', 'tap,id=n0', '-netdev', 'tap,id=n0'], "-netdev n0: Duplicate ID 'n0' for netdev"),
    (['-netdev', 'tap,id=n0,fd=x', '-device', 'virtio-net-device,netdev=n0'],
     '-netdev n0: fd=x: not a file descriptor number (names from getfd need -precreate)'),
    (['-netdev', 'tap,id=n0,fd=0', '-device', 'virtio-net-device,netdev=n0'],
     '-netdev n0: not a TAP fd (TUNGETIFF)'),
    (['-netdev', 'tap,id=n0,ifname=a-name-far-too-long', '-device', 'virtio-net-device,netdev=n0'],
     "-netdev tap,id=n0,ifname=a-name-far-too-long: Parameter 'ifname' expects"),
    (['-netdev', 'user,id=n0'],
     "-netdev user,id=n0: Parameter 'type' does not accept value 'user'"),
    (['-netdev', 'tap'], "-netdev tap: Parameter 'id' is missing"),
    (['-device', 'virtio-net-device,netdev=n0,mac=zz'],
     "-device virtio-net-device,netdev=n0,mac=zz: Property 'virtio-net-device.mac' doesn't "
     "take value 'zz'"),
    (['-device', 'virtio-net-device,netdev=n0'],
     "-device virtio-net-device: Property 'virtio-net-device.netdev' can't find value 'n0'"),
    (['-netdev', 'tap,id=n0', '-device', 'virtio-net-device,netdev=n0', '-device',
      'virtio-net-device,netdev=n0'],
     "-device virtio-net-device: Property 'virtio-net-device.netdev' can't take value 'n0', "
     "it's in use"),
    (['-device', 'e1000'], "-device e1000: Parameter 'driver' does not accept value 'e1000'"),
    (['-serial', 'unix:'], '-serial unix:: invalid Unix socket address'),
    (['-serial', 'unix:,server=on'], '-serial unix:,server=on: invalid Unix socket address'),
    (['-serial', 'unix:/tmp/s.sock,server=on,wait=off,telnet=on'],
     "-serial unix:/tmp/s.sock,server=on,wait=off,telnet=on: Parameter 'telnet' is unexpected"),
    (['-serial', 'unix:/tmp/s.sock,server=on,wait=maybe'],
     "-serial unix:/tmp/s.sock,server=on,wait=maybe: Parameter 'wait' expects 'on' or 'off'"),
    (['-serial', 'unix:/tmp/s.sock,wait=off'],
     "-serial unix:/tmp/s.sock,wait=off: 'wait' option is incompatible with socket in client "
     'connect mode'),
    (['-serial', 'unix:/nonexistent/dir/s.sock'],
     "-serial unix:/nonexistent/dir/s.sock: Failed to connect to '/nonexistent/dir/s.sock': "
     'No such file or directory'),
    (['-serial', 'unix:/nonexistent/dir/s.sock,server=on,wait=off'],
     '-serial unix:/nonexistent/dir/s.sock,server=on,wait=off: Failed to bind socket to '
     '/nonexistent/dir/s.sock: No such file or directory'),
    (['-serial', 'unix:/' + 'x' * 120 + ',server=on'],
     '-serial unix:/' + 'x' * 120 + ",server=on: UNIX socket path '/" + 'x' * 120 +
     "' is too long"),
    (['-serial', 'tcp:127.0.0.1,server=on,wait=off'],
     "-serial tcp:127.0.0.1,server=on,wait=off: error parsing address '127.0.0.1'"),
    (['-serial', 'tcp:127.0.0.1:notaport,server=on,wait=off'],
     '-serial tcp:127.0.0.1:notaport,server=on,wait=off: address resolution failed for '
     '127.0.0.1:notaport: Servname not supported for ai_socktype'),
    (['-serial', 'tcp:127.0.0.1:1'],
     "-serial tcp:127.0.0.1:1: Failed to connect to '127.0.0.1:1': Connection refused"),
    (['-serial', 'null', '-serial', 'stdio'], '-serial stdio: only one serial port (COM1) exists'),
    (['-serial', 'file:/nonexistent/dir/out'],
     "-serial file:/nonexistent/dir/out: Could not open '/nonexistent/dir/out': No such file or "
     'directory'),
    (['-serial', 'foo'], "-serial foo: 'foo' is not a valid char driver"),
    (['-display', 'gtk'], "-display gtk: Parameter 'type' does not accept value 'gtk'"),
    (['-kernel', '/nonexistent'],
     "-kernel: could not open '/nonexistent': No such file or directory"),
    (['-kernel', '/etc/hostname'], "-kernel: '/etc/hostname' is not an ELF file"),
    (['-kernel', '/'], "-kernel: '/' is not a regular file"),
    (['-kernel', '/bin/true'], "-kernel: '/bin/true': not an ELF executable (ET_EXEC)"),
    (['-kernel', MOLT, '-initrd', 'x'],
     '-initrd: only a Linux kernel (bzImage) takes an initrd'),
    (['-initrd', 'x'], '-initrd only allowed with -kernel option'),
    (['-append', 'x'], '-append only allowed with -kernel option'),
    (['-incoming', 'foo'], '-incoming foo: unknown migration protocol: foo'),
    (['-incoming', 'tcp:abc'], "-incoming tcp:abc: error parsing address 'abc'"),
    (['-incoming', 'unix:'], '-incoming unix:: invalid Unix socket address'),
    (['-incoming', 'file:/tmp/x,offset=abc'],
     "-incoming file:/tmp/x,offset=abc: Parameter 'offset' expects integer"),
    (['-incoming', '{"channel-type": "cpr", "addr": {"transport": "socket", "type": "inet", '
      '"host": "x", "port": "1"}}'],
     '-incoming {"channel-type": "cpr", "addr": {"transport": "socket", "type": "inet", '
     '"host": "x", "port": "1"}}: the cpr channel must be a UNIX socket'),
    (['-incoming', '{"channel-type": "bogus"}'],
     '-incoming {"channel-type": "bogus"}: '
     "Parameter 'channel-type' does not accept value 'bogus'"),
    (['-incoming', 'defer', '-incoming', 'unix:/tmp/a'],
     '-incoming unix:/tmp/a: -incoming defer and a main channel cannot be combined'),
    (['-incoming', 'unix:/tmp/a', '-incoming', 'unix:/tmp/b'],
     '-incoming unix:/tmp/b: only one main channel may be given with -incoming'),
    (['-qmp', 'unix:/tmp/x.sock'],
     '-qmp unix:/tmp/x.sock: connecting out to a QMP client is not yet supported; use server=on'),
    (['-qmp', 'unix:/tmp/x.sock,wait=off'],
     "-qmp unix:/tmp/x.sock,wait=off: 'wait' option is incompatible with socket in client "
     'connect mode'),
    (['-qmp', 'null'], '-qmp null: a QMP monitor needs stdio, unix: or tcp:'),
    (['-qmp', 'unix:/nonexistent/dir/q.sock,server=on,wait=off'],
     '-qmp unix:/nonexistent/dir/q.sock,server=on,wait=off: Failed to bind socket to '
     '/nonexistent/dir/q.sock: No such file or directory'),
    (['-qmp', 'tcp:127.0.0.1:notaport,server=on,wait=off'],
     '-qmp tcp:127.0.0.1:notaport,server=on,wait=off: address resolution failed for '
     '127.0.0.1:notaport: Servname not supported for ai_socktype'),
    (['-pidfile', '/nonexistent/dir/pid'],
     'cannot create PID file /nonexistent/dir/pid: No such file or directory'),
    (['-compat', 'deprecated-input=maybe'],
     "-compat deprecated-input=maybe: Parameter 'deprecated-input' does not accept value 'maybe'"),
    (['-name', 'guest=vm,debug-threads=maybe'],
     "-name guest=vm,debug-threads=maybe: Parameter 'debug-threads' expects 'on' or 'off'"),
    (['-name', 'process=abcdefghijklmnopq'],
     "-name process=abcdefghijklmnopq: Parameter 'process' expects"),
    (['-daemonize', '-qmp', 'stdio'], '-qmp stdio: not possible with -daemonize'),
    (['-qmp', 'stdio', '-serial', 'stdio'], 'cannot use stdio by multiple character devices'),
    (['-qmp', 'stdio', '-nographic'], 'cannot use stdio by multiple character devices'),
    (['-d', 'foo'], "-d foo: unknown log item 'foo' (-d help lists them)"),
    (['-m'], '-m: requires an argument'),
    (['disk.img'], 'disk.img: molt takes no positional arguments (disk images are not supported)'),
]


@pytest.mark.parametrize('args,message', BAD, ids=[' '.join(a) for a, _ in BAD])
def test_bad_input(tmpdir_short, args, message):
    sock = os.path.join(tmpdir_short, 'q.sock')
    pid = os.path.join(tmpdir_short, 'molt.pid')
    # The QMP socket and pid file come first, so that a later error must
    # clean them up (a later -pidfile replaces the first).
    argv = ['-S', '-qmp', 'unix:%s,server=on,wait=off' % sock, '-pidfile', pid] + args
    r = run_molt(*argv)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert errors(r.stderr).startswith('molt: ' + message), r.stderr
    lines = errors(r.stderr).splitlines()
    assert len(lines) == 1 or message.endswith('unsupported machine type'), r.stderr
    assert r.stdout == ''
    assert os.listdir(tmpdir_short) == []


def query_params(m: Molt) -> dict:
    return m.connect().ok('query-migrate-parameters')


def defaults(start) -> dict:
    return query_params(start('-S'))


def test_incoming_config_keyval(start):
    base = defaults(start)
    m = start('-S', '-incoming',
              'config:max-bandwidth=1G,mode=cpr-transfer,backend-transfer.0=virtio-net-tap')
    p = query_params(m)
    assert p['max-bandwidth'] == 1 << 30
    assert p['mode'] == 'cpr-transfer'
    assert p['backend-transfer'] == ['virtio-net-tap']
    changed = {k for k in p if p[k] != base[k]}
    assert changed == {'max-bandwidth', 'mode', 'backend-transfer'}
    assert set(p) == set(base)
    # Without a channel this is not an incoming migration.
    assert m.connect().ok('query-status')['status'] == 'prelaunch'


def test_incoming_config_json(start):
    base = defaults(start)
    m = start('-S', '-incoming', 'config:{"max-bandwidth": 1073741824, "mode": "cpr-transfer", '
              '"backend-transfer": ["virtio-net-tap"]}')
    p = query_params(m)
    assert {k for k in p if p[k] != base[k]} == {'max-bandwidth', 'mode', 'backend-transfer'}
    assert p['max-bandwidth'] == 1 << 30 and p['mode'] == 'cpr-transfer'


def test_defaults_are_qemus(start):
    p = defaults(start)
    assert p['announce-initial'] == 50 and p['announce-max'] == 550
    assert p['announce-rounds'] == 5 and p['announce-step'] == 100
    assert p['throttle-trigger-threshold'] == 50
    assert p['cpu-throttle-initial'] == 20 and p['cpu-throttle-increment'] == 10
    assert p['max-cpu-throttle'] == 99 and p['max-bandwidth'] == 134217728
    assert p['downtime-limit'] == 300 and p['multifd-channels'] == 2
    assert p['mode'] == 'normal' and p['zero-page-detection'] == 'multifd'
    assert p['cpr-exec-command'] == [] and p['backend-transfer'] == []
    assert p['avail-switchover-bandwidth'] == 0


def test_precedence_global_then_config_then_qmp(start):
    m = start('-S', '-global', 'migration.downtime-limit=100')
    assert query_params(m)['downtime-limit'] == 100
    m = start('-S', '-global', 'migration.downtime-limit=100',
              '-incoming', 'config:downtime-limit=200')
    assert query_params(m)['downtime-limit'] == 200
    q = m.connect()
    q.ok('migrate-set-parameters', {'downtime-limit': 250})
    assert q.ok('query-migrate-parameters')['downtime-limit'] == 250
    # -global may also be written as driver=,property=,value=.
    m = start('-S', '-global', 'driver=migration,property=multifd-channels,value=8')
    assert query_params(m)['multifd-channels'] == 8


def test_config_with_channels(start, tmpdir_short):
    main = os.path.join(tmpdir_short, 'main.sock')
    m = start('-S', '-incoming', 'config:downtime-limit=200', '-incoming', 'unix:' + main)
    q = m.connect()
    assert q.ok('query-migrate-parameters')['downtime-limit'] == 200
    assert q.ok('query-status')['status'] == 'inmigrate'
    m = start('-incoming', 'defer', '-incoming', 'config:multifd-channels=4')
    q = m.connect()
    assert q.ok('query-migrate-parameters')['multifd-channels'] == 4
    assert q.ok('query-status')['status'] == 'inmigrate'


def test_backend_reads_early_mode(start, tmpdir_short):
    obj = 'memory-backend-memfd,id=ram0,size=4M'
    # Normal start-up: the backend allocates a new memfd and says so.
    m = start('-S', '-d', 'backends', '-object', obj, '-machine', 'memory-backend=ram0')
    q = m.connect()
    assert q.ok('query-memdev') == [{
        'id': 'ram0', 'size': 4 << 20, 'merge': True, 'dump': True, 'prealloc': False,
        'share': True, 'host-nodes': [], 'policy': 'default'}]
    q.ok('quit')
    assert m.wait() == 0
    assert "memory-backend-memfd 'ram0': new memfd, 4 MiB, shared" in m.proc.stderr.read()
    # The mode alone (no incoming migration) changes nothing for backends.
    m = start('-S', '-d', 'backends', '-object', obj, '-machine', 'memory-backend=ram0',
              '-incoming', 'config:mode=cpr-transfer')
    assert m.connect().ok('query-memdev')[0]['id'] == 'ram0'
    # A cpr-transfer destination: the backend, told by the early
    # parameters while it is created, takes the adopt path - and finds
    # no memfd for itself in the CPR state a stand-in old molt sends.
    cpr_path = os.path.join(tmpdir_short, 'cpr.sock')
    cpr = json.dumps({'channel-type': 'cpr', 'addr': {
        'transport': 'socket', 'type': 'unix', 'path': cpr_path}})
    m = start('-S', '-object', obj, '-machine', 'memory-backend=ram0',
              '-incoming', 'config:mode=cpr-transfer',
              '-incoming', 'unix:' + os.path.join(tmpdir_short, 'main.sock'), '-incoming', cpr)
    state = b'{"fds": []}'
    deadline = time.monotonic() + 10
    while not os.path.exists(cpr_path) and time.monotonic() < deadline:
        time.sleep(0.01)   # until the new process listens
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(cpr_path)
    s.sendall(b'MCPR' + struct.pack('>III', 1, len(state), 0) + state)
    assert m.wait() == 1
    s.close()
    assert errors(m.proc.stderr.read()) == (
        "molt: -object ram0: memory-backend-memfd 'ram0': the CPR state has no file "
        'descriptor for memory-backend/ram0/0\n')
    # ... and refuses private memory, which CPR cannot hand over.
    r = run_molt('-S', '-object', 'memory-backend-ram,id=r,size=4M', '-machine',
                 'memory-backend=r', '-incoming', 'config:mode=cpr-exec', '-incoming', 'defer')
    assert r.returncode == 1
    assert 'Memory region r is not compatible with CPR' in r.stderr


def test_precreate(start, tmpdir_short):
    m = start('-precreate', '-S', '-d', 'backends', '-incoming', 'defer',
              '-object', 'memory-backend-memfd,id=ram0,size=4M', '-machine', 'memory-backend=ram0')
    q = m.connect()
    # The monitor is up, no backend exists yet.
    assert q.ok('query-memdev') == []
    r = q.cmd('stop')
    assert r['error']['desc'] == \
        "The command 'stop' is permitted only after machine initialization has completed"
    q.ok('migrate-set-parameters', {'downtime-limit': 123})
    q.ok('migrate-set-capabilities', {'capabilities': [{'capability': 'events', 'state': True}]})
    assert q.ok('query-migrate-parameters')['events'] is True
    assert q.ok('query-status')['status'] == 'inmigrate'
    q.ok('precreate-exit')
    assert [b['id'] for b in q.ok('query-memdev')] == ['ram0']
    assert q.ok('query-migrate-parameters')['downtime-limit'] == 123
    r = q.cmd('precreate-exit')
    assert r['error']['desc'] == 'The command is permitted only in the precreate phase (-precreate)'
    assert q.ok('stop') == {}


def test_precreate_parameters_reach_backends(start, tmpdir_short):
    """Parameters set over QMP during -precreate are what backends read."""
    m = start('-precreate', '-S', '-incoming', 'defer',
              '-object', 'memory-backend-memfd,id=ram0,size=4M', '-machine', 'memory-backend=ram0')
    q = m.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-exec'})
    q.ok('precreate-exit')
    assert m.wait() == 1
    # The backend took the adopt path: cpr-exec's state (none here).
    assert "the CPR state has no file descriptor for memory-backend/ram0/0" in m.proc.stderr.read()
    assert not os.path.exists(m.qmp_path)


def test_compat_policy(start):
    q = start('-S', '-compat', 'deprecated-output=hide,unstable-input=reject').connect()
    assert q.ok('query-status') == {'running': False, 'status': 'prelaunch'}
    r = q.cmd('migrate-set-parameters', {'backend-transfer': ['virtio-net-tap']})
    assert r['error']['desc'] == 'Unstable parameter backend-transfer disabled by policy'
    # As in QEMU, output policy hides members, not enum values.
    caps = {c['capability'] for c in q.ok('query-migrate-capabilities')}
    assert 'zero-blocks' in caps
    r = q.cmd('migrate-set-capabilities', {'capabilities': [
        {'capability': 'zero-blocks', 'state': True}]})
    assert r == {'return': {}}
    names = {e['name'] for e in q.ok('query-qmp-schema')}
    assert 'query-status' in names
    # The early parameters follow the same schema: unstable members are
    # fine on the command line, which -compat does not govern.
    q = start('-S', '-compat', 'unstable-input=reject',
              '-incoming', 'config:backend-transfer.0=virtio-net-tap').connect()
    assert q.ok('query-migrate-parameters')['backend-transfer'] == ['virtio-net-tap']


def test_memory_sizes(start):
    assert start('-S', '-m', '512').connect().ok('query-memdev')[0]['size'] == 512 << 20
    assert start('-S', '-m', 'size=1G').connect().ok('query-memdev')[0]['size'] == 1 << 30
    md = start('-S').connect().ok('query-memdev')
    assert md[0]['size'] == 128 << 20 and md[0]['share'] is False
    md = start('-S', '-machine', 'aux-ram-share=on').connect().ok('query-memdev')
    assert md[0]['share'] is True


def test_qmp_socket_is_private(start):
    m = start('-S')
    assert stat.S_IMODE(os.stat(m.qmp_path).st_mode) == 0o600


def test_stale_socket_replaced_other_file_kept(tmpdir_short, start):
    path = os.path.join(tmpdir_short, 'qmp.sock')
    with open(path, 'w') as f:
        f.write('not a socket')
    r = run_molt('-S', '-qmp', 'unix:%s,server=on,wait=off' % path)
    assert r.returncode == 1 and 'File exists' in r.stderr
    assert open(path).read() == 'not a socket'
    os.unlink(path)
    p = subprocess.Popen([MOLT, '-S', '-qmp', 'unix:%s,server=on,wait=off' % path])
    wait_for_socket(path, p)
    p.kill()      # leaves a stale socket file behind
    p.wait()
    assert os.path.exists(path)
    m = start('-S', '-qmp', 'unix:%s,server=on,wait=off' % path, qmp=False)
    q = None
    for _ in range(500):
        try:
            q = Qmp(path)
            break
        except OSError:
            time.sleep(0.01)
    assert q is not None
    assert q.ok('query-status')['status'] == 'prelaunch'
    q.cmd('quit')
    assert m.wait() == 0


def test_running_without_S(start):
    status = start().connect().ok('query-status')
    assert status == {'running': True, 'singlestep': False, 'status': 'running'}


def test_daemonize_and_pidfile(tmpdir_short):
    sock = os.path.join(tmpdir_short, 'q.sock')
    pidfile = os.path.join(tmpdir_short, 'molt.pid')
    r = subprocess.run([MOLT, '-S', '-daemonize', '-pidfile', pidfile,
                        '-qmp', 'unix:%s,server=on,wait=off' % sock],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    pid = int(open(pidfile).read())
    os.kill(pid, 0)   # alive
    q = Qmp(sock)
    assert q.ok('query-status')['status'] == 'prelaunch'
    # A second molt with the same pid file refuses and leaves it alone.
    r2 = run_molt('-S', '-pidfile', pidfile)
    assert r2.returncode == 1 and 'Cannot lock pid file' in r2.stderr
    assert int(open(pidfile).read()) == pid
    q.cmd('quit')
    for _ in range(500):
        if not os.path.exists(pidfile):
            break
        time.sleep(0.01)
    assert not os.path.exists(pidfile)
    assert not os.path.exists(sock)


def test_daemonize_failure_reported_by_parent(tmpdir_short):
    r = run_molt('-daemonize',
                 '-object', 'memory-backend-file,id=f,size=1M,mem-path=/nonexistent/f',
                 '-machine', 'memory-backend=f')
    assert r.returncode == 1
    assert "can't open backing store" in r.stderr


def test_wait_on_blocks_until_a_client_connects(tmpdir_short):
    sock = os.path.join(tmpdir_short, 'q.sock')
    p = subprocess.Popen([MOLT, '-S', '-d', 'backends', '-qmp', 'unix:%s,server=on' % sock],
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        time.sleep(0.2)
        # Still waiting: start-up (backend creation) has not happened.
        assert p.poll() is None
        q = Qmp(sock)
        assert q.ok('query-status')['status'] == 'prelaunch'
        q.cmd('quit')
        assert p.wait(10) == 0
        assert "'molt.ram': anonymous memory" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_signal_while_waiting_for_the_first_client(tmpdir_short):
    sock = os.path.join(tmpdir_short, 'q.sock')
    p = subprocess.Popen([MOLT, '-S', '-qmp', 'unix:%s,server=on' % sock],
                         stderr=subprocess.PIPE, text=True)
    for _ in range(500):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    p.terminate()
    assert p.wait(10) == 0
    assert 'terminating on signal 15' in p.stderr.read()
    assert not os.path.exists(sock)


def test_help_and_version():
    r = run_molt('-version')
    assert r.returncode == 0 and r.stdout.startswith('molt version ')
    r = run_molt('-help')
    assert r.returncode == 0
    for opt in ('-incoming', '-precreate', '-qmp', '-object', '-global', '-daemonize'):
        assert opt in r.stdout
    r = run_molt('-machine', 'help')
    assert r.returncode == 0 and 'molt-0.1' in r.stdout
    r = run_molt('-object', 'help')
    assert r.returncode == 0 and 'qom-type' in r.stdout
    r = run_molt('-d', 'help')
    assert r.returncode == 0 and 'backends' in r.stdout


def fake_bzimage(path: str) -> str:
    """A file with a Linux boot-protocol header (enough to be told apart)."""
    data = bytearray(4096)
    data[0x1f1] = 1
    data[0x200:0x202] = b'\xeb\x66'
    data[0x202:0x206] = b'HdrS'
    data[0x206:0x208] = (0x020f).to_bytes(2, 'little')
    data[0x211] = 1
    data[0x236:0x238] = (1).to_bytes(2, 'little')
    with open(path, 'wb') as f:
        f.write(data)
    return path


def test_linux_kernel_needs_kvm(tmpdir_short):
    bz = fake_bzimage(os.path.join(tmpdir_short, 'bzImage'))
    r = run_molt('-accel', 'tcg', '-kernel', bz)
    assert r.returncode == 1
    assert r.stderr == ('molt: -kernel: a Linux kernel needs -accel kvm '
                        '(tcg injects no interrupts)\n')


def test_kvm_linux_missing_initrd_is_a_clear_error(tmpdir_short):
    if not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    bz = fake_bzimage(os.path.join(tmpdir_short, 'bzImage'))
    r = run_molt('-accel', 'kvm', '-kernel', bz, '-initrd', '/nonexistent')
    assert r.returncode == 1
    assert r.stderr == ("molt: -initrd: could not open '/nonexistent': No such file or directory\n")
