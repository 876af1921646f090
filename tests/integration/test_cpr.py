"""CPR live update (real processes, real memfds, real UNIX sockets with
SCM_RIGHTS): cpr-transfer hands guest RAM's memfd to a new molt, which
maps the same memory and runs the guest on from where it was.

The dirtier guest rewrites its RAM all the time and checks every page:
RAM that was not the very same memory, or device state that did not
match it, fails its self-check on the new process.
"""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import test_migration as base
from molt_harness import MOLT, errors, in_ns, time_scale
from test_migration_net import ECHO, MAC, STEADY_CLIENT, ns_ok
from udp_traffic import Traffic


def guest(accel: str, serial: str, share: str = 'on') -> list:
    return ['-accel', accel, '-m', '64M', '-kernel', base.DIRTIER, '-serial', 'file:' + serial,
            '-object', 'memory-backend-memfd,id=ram0,size=64M,share=' + share,
            '-machine', 'memory-backend=ram0']


def unix(path: str) -> dict:
    return {'transport': 'socket', 'type': 'unix', 'path': path}


def cpr_channel(path: str) -> str:
    return json.dumps({'channel-type': 'cpr', 'addr': unix(path)})


def wait_for_path(path: str) -> None:
    """Until the new process listens on its cpr socket."""
    deadline = time.monotonic() + 10 * time_scale()
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists(path), path


def channels(main: str, cpr: str) -> list:
    return [{'channel-type': 'main', 'addr': unix(main)},
            {'channel-type': 'cpr', 'addr': unix(cpr)}]


class Update:
    """An old molt running the dirtier and a new one waiting for it."""

    def __init__(self, start, tmpdir: str, accel: str = 'tcg') -> None:
        self.main = os.path.join(tmpdir, 'main.sock')
        self.cpr = os.path.join(tmpdir, 'cpr.sock')
        self.src_out = os.path.join(tmpdir, 'src.txt')
        self.dst_out = os.path.join(tmpdir, 'dst.txt')
        self.src = start(*guest(accel, self.src_out))
        # The new process reads the cpr channel before anything else: its
        # monitor answers only once the old one has handed over.
        self.dst = start(*guest(accel, self.dst_out), '-incoming', 'config:mode=cpr-transfer',
                         '-incoming', 'unix:' + self.main, '-incoming', cpr_channel(self.cpr))
        base.wait_for_text(self.src_out, 'dirtier: round 2 ok')
        self.q = self.src.connect()
        self.q.ok('migrate-set-capabilities', {'capabilities': [
            {'capability': 'events', 'state': True}]})
        self.q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
        wait_for_path(self.cpr)

    def migrate(self) -> dict:
        self.q.ok('migrate', {'channels': channels(self.main, self.cpr)})
        return base.wait_status(self.q, ('completed', 'failed'))


def test_cpr_transfer_runs_the_guest_on_in_the_new_process(start, tmpdir_short, accel):
    u = Update(start, tmpdir_short, accel)
    info = u.migrate()
    assert info['status'] == 'completed', info
    # No RAM went over the main channel: the new process maps the memfd.
    assert info['ram']['transferred'] < 64 * 1024, info
    assert u.q.ok('query-status')['status'] == 'postmigrate'
    # The old process cannot run the guest again: the new one runs on
    # this very memory.
    r = u.q.cmd('cont')
    assert r['error']['desc'] == ('The guest runs on in the process it migrated to, on this same '
                                  'memory: it cannot run here too'), r
    src_round = base.last_round(base.read(u.src_out))
    base.check_destination(u.dst, u.dst_out, src_round)
    # The new process serves QMP, and its RAM is the adopted memfd.
    qd = u.dst.connect()
    assert qd.ok('query-memdev')[0]['id'] == 'ram0'
    assert qd.ok('query-migrate')['status'] == 'completed'
    # The pause: STOP on the old process to the verdict of the new one.
    assert 0 <= info['downtime'] < 1000 * time_scale(), info


def test_cpr_transfer_requirements_refused_before_the_guest_stops(start, tmpdir_short):
    out = os.path.join(tmpdir_short, 'src.txt')
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    # Private RAM cannot be handed over.
    src = start(*guest('tcg', out, share='off'))
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
    r = q.cmd('migrate', {'channels': channels(main, cpr)})
    assert r['error']['desc'] == ('Memory region ram0 is not compatible with CPR. share=on is '
                                  'required for memory-backend objects, and aux-ram-share=on is '
                                  'required.'), r
    src.stop()
    src = start(*guest('tcg', out))
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
    tcp = {'transport': 'socket', 'type': 'inet', 'host': '127.0.0.1', 'port': '0'}
    for args, desc in [
        ({'uri': 'unix:' + main},
         'mode cpr-transfer needs a cpr channel: migrate with channels [main, cpr]'),
        ({'channels': [{'channel-type': 'main', 'addr': unix(main)},
                       {'channel-type': 'cpr', 'addr': dict(tcp, port='4444')}]},
         'the cpr channel must be a UNIX socket'),
        ({'channels': [{'channel-type': 'main', 'addr': tcp},
                       {'channel-type': 'cpr', 'addr': unix(cpr)}]},
         'mode cpr-transfer cannot use port 0: the new process listens on a known port'),
        ({'channels': [{'channel-type': 'main', 'addr': {'transport': 'file', 'filename': main}},
                       {'channel-type': 'cpr', 'addr': unix(cpr)}]},
         'mode cpr-transfer needs a unix or tcp main channel (the new process listens on it)'),
    ]:
        r = q.cmd('migrate', args)
        assert r['error']['desc'] == desc, r
    # Nothing stopped, nothing started.
    assert q.ok('query-status')['status'] == 'running'
    assert 'status' not in q.ok('query-migrate')
    q.ok('migrate-set-parameters', {'mode': 'normal'})
    r = q.cmd('migrate', {'channels': channels(main, cpr)})
    assert r['error']['desc'] == 'a cpr channel is only for mode cpr-transfer', r


def test_new_process_killed_after_the_fds_the_source_resumes(start, tmpdir_short):
    """The new process takes the fds, then dies before the main channel:
    the old process resumes the guest, which goes on with its rounds."""
    u = Update(start, tmpdir_short)
    # The new process is gone right after it hangs up the cpr channel: a
    # stand-in that takes the state and exits plays it (same socket).
    u.dst.proc.kill()
    u.dst.proc.wait()
    fake = CprTaker(u.cpr)
    r = u.q.cmd('migrate', {'channels': channels(u.main, u.cpr)})
    assert 'error' not in r, r
    fds = fake.take()
    assert fds == 1   # guest RAM's memfd arrived
    info = base.wait_status(u.q, ('failed', 'completed'))
    assert info['status'] == 'failed', info
    assert 'main channel' in info['error-desc'], info
    assert u.q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(u.src_out))
    base.wait_for_text(u.src_out, 'dirtier: round %d ok' % (before + 1))
    assert 'FAIL' not in base.read(u.src_out)


class CprTaker:
    """Listens on a cpr socket, reads the state with its fds, hangs up."""

    def __init__(self, path: str) -> None:
        import socket
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)

    def take(self) -> int:
        import socket
        conn, _ = self.sock.accept()
        fds = []
        data = b''
        while True:
            msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    n = len(payload) // 4
                    fds += list(memoryview(payload)[:n * 4].cast('i'))
            if not msg:
                break
            data += msg
        assert data.startswith(b'MCPR'), data[:16]
        for fd in fds:
            os.close(fd)
        conn.close()
        self.sock.close()
        return len(fds)


@pytest.mark.parametrize('bad', [b'XXXX' + bytes(12), b'MCPR\x00\x00\x00\x09' + bytes(8)])
def test_new_process_refuses_a_bad_cpr_state(start, tmpdir_short, bad):
    import socket
    out = os.path.join(tmpdir_short, 'dst.txt')
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    dst = start(*guest('tcg', out), '-incoming', 'config:mode=cpr-transfer',
                '-incoming', 'unix:' + main, '-incoming', cpr_channel(cpr), wait=False)
    wait_for_path(cpr)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(cpr)
    s.sendall(bad)
    s.shutdown(socket.SHUT_WR)
    assert dst.wait() == 1
    err = errors(dst.proc.stderr.read())
    assert err.startswith('molt: cpr channel unix:%s: CPR state: ' % cpr), err
    assert 'magic' in err or 'version 9' in err, err


def exec_update(start, tmp: str, accel: str, command_extra=()):
    """An old molt running the dirtier, set up for cpr-exec into a new
    argv: the same machine, its serial output to dst.txt, -incoming file:."""
    src_out, dst_out = os.path.join(tmp, 'src.txt'), os.path.join(tmp, 'dst.txt')
    state = os.path.join(tmp, 'vm.state')
    src = start(*guest(accel, src_out))
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    command = [MOLT, '-qmp', 'unix:%s,server=on,wait=off' % src.qmp_path,
               *guest(accel, dst_out), '-incoming', 'file:' + state, *command_extra]
    q.ok('migrate-set-parameters', {'mode': 'cpr-exec', 'cpr-exec-command': command})
    return src, q, src_out, dst_out, state


def reconnect(m, status: str = 'completed'):
    """The QMP monitor of the process now running under m's pid, once its
    migration is `status`."""
    deadline = time.monotonic() + 20 * time_scale()
    while True:
        try:
            q = m.connect()
            if q.ok('query-migrate').get('status') == status:
                return q
            q.close()
        except (OSError, EOFError, TimeoutError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def test_cpr_exec_runs_the_guest_on_in_the_new_program(start, tmpdir_short, accel):
    src, q, src_out, dst_out, state = exec_update(start, tmpdir_short, accel)
    pid = src.proc.pid
    q.ok('migrate', {'uri': 'file:' + state})
    # The old molt becomes the new one (same pid): its monitor goes away
    # and comes back on the same socket, the migration completed there.
    qn = reconnect(src)
    assert src.proc.poll() is None and src.proc.pid == pid
    assert qn.ok('query-status')['status'] == 'running'
    src_round = base.last_round(base.read(src_out))
    base.wait_for_text(dst_out, 'dirtier: round %d ok' % (src_round + 2))
    assert 'FAIL' not in base.read(dst_out)
    assert 'dirtier: round 1 ok' not in base.read(dst_out)
    # RAM went as the memfd itself: the state file holds the device state.
    assert os.path.getsize(state) < 64 * 1024
    assert qn.ok('query-memdev')[0]['id'] == 'ram0'
    # The helper that took the old address space down has exited and was
    # reaped by the new program: no child, no zombie left.
    deadline = time.monotonic() + 10 * time_scale()
    while children(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(pid) == []


def children(pid: int) -> list:
    """(pid, state) of the processes whose parent is pid."""
    out = []
    for name in os.listdir('/proc'):
        try:
            fields = open('/proc/%s/stat' % name).read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append((int(name), fields[0]))
    return out


def test_cpr_exec_that_cannot_exec_resumes_the_guest(start, tmpdir_short):
    src, q, src_out, _, state = exec_update(start, tmpdir_short, 'tcg')
    q.ok('migrate-set-parameters', {'cpr-exec-command': ['/nonexistent/molt', '-S']})
    q.ok('migrate', {'uri': 'file:' + state})
    info = base.wait_status(q, ('failed', 'completed'))
    assert info['status'] == 'failed', info
    assert info['error-desc'] == ("cpr-exec: cannot execute '/nonexistent/molt': "
                                  'No such file or directory'), info
    assert q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(src_out))
    base.wait_for_text(src_out, 'dirtier: round %d ok' % (before + 1))
    assert 'FAIL' not in base.read(src_out)
    # Nothing left behind for a later exec: guest RAM's memfd is open
    # once (the backend's), close-on-exec again.
    memfds = []
    for fd in os.listdir('/proc/%d/fd' % src.proc.pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (src.proc.pid, fd))
        except OSError:
            continue
        if target.startswith('/memfd:molt:'):
            flags = open('/proc/%d/fdinfo/%s' % (src.proc.pid, fd)).read().split()[3]
            memfds.append((target, int(flags, 8) & os.O_CLOEXEC != 0))
    assert memfds == [('/memfd:molt:ram0 (deleted)', True)], memfds


def test_cpr_exec_requirements(start, tmpdir_short):
    src, q, _, _, state = exec_update(start, tmpdir_short, 'tcg')
    r = q.cmd('migrate', {'uri': 'unix:' + os.path.join(tmpdir_short, 'x.sock')})
    assert r['error']['desc'] == ('mode cpr-exec needs a file: URI (the new process reads the '
                                  'state from it)'), r
    q.ok('migrate-set-parameters', {'cpr-exec-command': []})
    r = q.cmd('migrate', {'uri': 'file:' + state})
    assert r['error']['desc'] == "mode cpr-exec needs cpr-exec-command (the new process's argv)", r
    assert q.ok('query-status')['status'] == 'running'


@pytest.mark.parametrize('shared', [True, False])
def test_cpr_reboot_resumes_the_guest_from_a_file(start, tmpdir_short, accel, shared):
    """cpr-reboot: the old molt stops the guest and saves it to a file, then
    quits; a new one (-incoming defer + migrate-incoming) runs it on.  With
    guest RAM in a shared file and x-ignore-shared, RAM is not written: the
    new process maps the same file (what survives a host reboot on DAX or a
    disk); without, RAM is in the state file."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    state, ram = (os.path.join(tmpdir_short, n) for n in ('vm.state', 'ram.img'))
    backend = ('memory-backend-file,id=ram0,size=64M,mem-path=%s,share=on' % ram if shared
               else 'memory-backend-ram,id=ram0,size=64M')
    machine = ['-accel', accel, '-m', '64M', '-kernel', base.DIRTIER, '-object', backend,
               '-machine', 'memory-backend=ram0']
    src = start(*machine, '-serial', 'file:' + src_out)
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-reboot'})
    if shared:
        q.ok('migrate-set-capabilities', {'capabilities': [
            {'capability': 'x-ignore-shared', 'state': True}]})
    q.ok('migrate', {'uri': 'file:' + state})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'completed', info
    assert q.ok('query-status')['status'] == 'postmigrate'
    src_round = base.last_round(base.read(src_out))
    size = os.path.getsize(state)
    assert size < 64 * 1024 if shared else size > 4 << 20, size
    q.ok('quit')
    src.wait()
    dst = start(*machine, '-serial', 'file:' + dst_out, '-incoming', 'defer')
    qd = dst.connect()
    qd.ok('migrate-incoming', {'uri': 'file:' + state})
    base.check_destination(dst, dst_out, src_round)


def under_traffic(ns: str, update):
    """Runs update() while udp_traffic sends a datagram every 10 ms through
    the TAP (from its first answer and 0.2 s more); returns (sent,
    answered, update's result)."""
    traffic = Traffic(ns, 2 + 2 * time_scale(), first_answer_within=10 * time_scale())
    try:
        time.sleep(0.2 * time_scale())   # more answers from the old process
        result = update()
        sent, answered = traffic.stop(30 * time_scale())
    finally:
        traffic.kill()
    return len(sent), len(answered), result


def migrate_and_wait(q, args: dict) -> dict:
    q.ok('migrate', args)
    return base.wait_status(q, ('completed', 'failed'))


def tap_links(ns: str) -> dict:
    """name -> ifindex of the TAP interfaces in the namespace."""
    r = in_ns(ns, 'ip', '-o', 'link', 'show', 'type', 'tun')
    assert r.returncode == 0, r.stderr
    return {line.split(': ')[1].split('@')[0]: int(line.split(':')[0])
            for line in r.stdout.splitlines()}


def echo_machine(serial: str) -> list:
    return ['-accel', 'tcg', '-m', '64M', '-kernel', ECHO, '-serial', 'file:' + serial,
            '-object', 'memory-backend-memfd,id=ram0,size=64M,share=on',
            '-machine', 'memory-backend=ram0',
            '-netdev', 'tap,id=n0,ifname=molttap0,script=no,downscript=no',
            '-device', 'virtio-net-device,netdev=n0,mac=%s,id=net0' % MAC]


def test_cpr_transfer_hands_the_tap_over_without_losing_a_datagram(netns, start, tmpdir_short):
    """backend-transfer: the new process adopts the old one's TAP fd - the
    same interface (same ifindex, no second TAP) with the frames queued in
    it during the pause - so a client sending a datagram every 10 ms
    through it loses none across the update."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    before = tap_links(netns)
    assert list(before) == ['molttap0'], before
    dst = start(*echo_machine(dst_out), '-incoming',
                'config:mode=cpr-transfer,backend-transfer.0=virtio-net-tap',
                '-incoming', 'unix:' + main, '-incoming', cpr_channel(cpr), netns=netns)
    wait_for_path(cpr)
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer', 'backend-transfer': ['virtio-net-tap']})
    sent, answered, info = under_traffic(netns, lambda: migrate_and_wait(
        q, {'channels': channels(main, cpr)}))
    assert info['status'] == 'completed', info
    assert sent > 100 and answered == sent, (sent, answered, info)
    assert tap_links(netns) == before   # the same interface, and only it
    qd = dst.connect()
    assert qd.ok('query-status')['status'] == 'running'
    base.wait_for_text(dst_out, 'echo: ')   # the new process answered some


def test_without_backend_transfer_the_new_process_opens_its_own_tap(netns, start, tmpdir_short):
    """The fallback: without backend-transfer the new process needs a TAP
    of its own (the old one still holds its interface), a new interface
    with another ifindex that the host must wire up itself; the guest
    answers through it once it is."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    dst_args = [a.replace('ifname=molttap0', 'ifname=molttap1') for a in echo_machine(dst_out)]
    dst = start(*dst_args, '-incoming', 'config:mode=cpr-transfer',
                '-incoming', 'unix:' + main, '-incoming', cpr_channel(cpr), netns=netns)
    wait_for_path(cpr)
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
    q.ok('migrate', {'channels': channels(main, cpr)})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'completed', info
    links = tap_links(netns)
    assert sorted(links) == ['molttap0', 'molttap1'], links
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap1')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap1', 'up')
    r = in_ns(netns, '/usr/bin/python3', '-c', STEADY_CLIENT, '1')
    answers = r.stdout.split()[1::2]
    assert r.returncode == 0 and answers and answers.count('1') > len(answers) // 2, r.stdout
    assert dst.connect().ok('query-status')['status'] == 'running'


def test_backend_transfer_needs_a_unix_main_channel(netns, start, tmpdir_short):
    out = os.path.join(tmpdir_short, 'src.txt')
    src = start(*echo_machine(out), netns=netns)
    q = src.connect()
    q.ok('migrate-set-parameters', {'backend-transfer': ['virtio-net-tap']})
    r = q.cmd('migrate', {'uri': 'tcp:127.0.0.1:4444'})
    assert r['error']['desc'] == ('backend-transfer needs a UNIX socket main channel: the '
                                  'backends stay on this host'), r
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
    tcp = {'transport': 'socket', 'type': 'inet', 'host': '127.0.0.1', 'port': '4444'}
    r = q.cmd('migrate', {'channels': [{'channel-type': 'main', 'addr': tcp},
                                       {'channel-type': 'cpr', 'addr': unix(out + '.cpr')}]})
    assert r['error']['desc'] == ('backend-transfer needs a UNIX socket main channel: the '
                                  'backends stay on this host'), r
    assert q.ok('query-status')['status'] == 'running'


def test_local_migration_hands_the_tap_over_in_the_stream(netns, start, tmpdir_short):
    """backend-transfer in mode normal over a UNIX socket: RAM is copied as
    usual, the TAP fd goes in the main stream (SCM_RIGHTS) to a destination
    whose TAP waited for it - the same interface, no datagram lost."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    main = os.path.join(tmpdir_short, 'main.sock')
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    before = tap_links(netns)
    dst = start(*echo_machine(dst_out), '-incoming', 'config:backend-transfer.0=virtio-net-tap',
                '-incoming', 'unix:' + main, netns=netns)
    base.listening(dst)
    assert tap_links(netns) == before   # the destination opened no TAP
    q = src.connect()
    q.ok('migrate-set-parameters', {'backend-transfer': ['virtio-net-tap'],
                                    'max-bandwidth': 1 << 40})
    sent, answered, info = under_traffic(netns, lambda: migrate_and_wait(
        q, {'uri': 'unix:' + main}))
    assert info['status'] == 'completed', info
    assert sent > 100 and answered == sent, (sent, answered)
    assert tap_links(netns) == before
    assert dst.connect().ok('query-status')['status'] == 'running'
    # The source cannot run the guest again: its TAP is the destination's.
    r = q.cmd('cont')
    assert 'error' in r, r
    base.wait_for_text(dst_out, 'echo: ')


def test_local_migration_to_a_destination_not_waiting_for_the_tap(netns, start, tmpdir_short):
    """The source hands the TAP over, the destination opened its own: it
    refuses the stream with the reason, and the source runs on."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    main = os.path.join(tmpdir_short, 'main.sock')
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    dst_args = [a.replace('ifname=molttap0', 'ifname=molttap1') for a in echo_machine(dst_out)]
    dst = start(*dst_args, '-incoming', 'unix:' + main, netns=netns)
    base.listening(dst)
    q = src.connect()
    q.ok('migrate-set-parameters', {'backend-transfer': ['virtio-net-tap']})
    q.ok('migrate', {'uri': 'unix:' + main})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'failed', info
    assert "the source handed over the TAP of 'net0', which this process does not wait for" \
        in info['error-desc'], info
    assert q.ok('query-status')['status'] == 'running'
    assert dst.wait() == 1


def test_cpr_exec_keeps_the_tap_and_every_datagram(netns, start, tmpdir_short):
    """cpr-exec with backend-transfer: the TAP fd stays open across exec
    and the new program adopts it; no datagram is lost."""
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    state = os.path.join(tmpdir_short, 'vm.state')
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    before = tap_links(netns)
    q = src.connect()
    command = [MOLT, '-qmp', 'unix:%s,server=on,wait=off' % src.qmp_path,
               *echo_machine(dst_out), '-incoming', 'config:backend-transfer.0=virtio-net-tap',
               '-incoming', 'file:' + state]
    q.ok('migrate-set-parameters', {'mode': 'cpr-exec', 'cpr-exec-command': command,
                                    'backend-transfer': ['virtio-net-tap']})

    def update():
        q.ok('migrate', {'uri': 'file:' + state})
        return reconnect(src)
    sent, answered, qn = under_traffic(netns, update)
    assert sent > 100 and answered == sent, (sent, answered)
    assert tap_links(netns) == before
    assert qn.ok('query-status')['status'] == 'running'
    base.wait_for_text(dst_out, 'echo: ')


def test_new_process_dying_after_the_tap_fd_the_traffic_goes_on(netns, start, tmpdir_short):
    """backend-transfer, and the new process takes the fds (RAM and TAP)
    but dies before the main channel: the old one resumes the guest on
    its own TAP fd, and the guest answers again."""
    src_out = os.path.join(tmpdir_short, 'src.txt')
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer', 'backend-transfer': ['virtio-net-tap']})
    fake = CprTaker(cpr)
    q.ok('migrate', {'channels': channels(main, cpr)})
    assert fake.take() == 2   # guest RAM's memfd and the TAP
    info = base.wait_status(q, ('failed', 'completed'))
    assert info['status'] == 'failed', info
    assert q.ok('query-status')['status'] == 'running'
    r = in_ns(netns, '/usr/bin/python3', '-c', STEADY_CLIENT, '1')
    answers = r.stdout.split()[1::2]
    assert r.returncode == 0 and answers and all(ok == '1' for ok in answers), r.stdout


@contextlib.contextmanager
def with_another_user(start, tmpdir: str, why: str):
    """(source running the dirtier, its serial file, a directory that user
    nobody may use too), the directory removed afterwards; skips without
    root (`why` needs it)."""
    if os.geteuid() != 0:
        pytest.skip('needs root (%s)' % why)
    out = os.path.join(tmpdir, 'src.txt')
    src = start(*guest('tcg', out))
    base.wait_for_text(out, 'dirtier: round 1 ok')
    d = tempfile.mkdtemp(prefix='molt-cpr-')
    os.chmod(d, 0o777)
    try:
        yield src, out, d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_cpr_channel_of_another_user_is_refused(start, tmpdir_short):
    """The old process hands guest memory only to a process of its own
    user: a cpr listener run as another uid (nobody) is refused (its
    SO_PEERCRED), before anything is sent, and the guest runs on."""
    why = 'to run the listener as another user'
    with with_another_user(start, tmpdir_short, why) as (src, _, d):
        cpr = os.path.join(d, 'cpr.sock')
        listener = subprocess.Popen(
            ['/usr/bin/python3', '-c', 'import os, socket, sys, time\n'
             'os.setgid(65534); os.setuid(65534)\n'
             's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])\n'
             'os.chmod(sys.argv[1], 0o777)\n'
             's.listen(1); print("ready", flush=True); c, _ = s.accept()\n'
             'print("got %d bytes" % len(c.recv(4096)), flush=True)', cpr],
            stdout=subprocess.PIPE, text=True)
        try:
            assert listener.stdout is not None and listener.stdout.readline().strip() == 'ready'
            q = src.connect()
            q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
            q.ok('migrate', {'channels': channels(os.path.join(d, 'main.sock'), cpr)})
            info = base.wait_status(q, ('failed', 'completed'))
            assert info['status'] == 'failed', info
            assert 'runs as uid 65534, not 0' in info['error-desc'], info
            assert q.ok('query-status')['status'] == 'running'
            out_text, _ = listener.communicate(timeout=10)
            assert out_text.strip() == 'got 0 bytes', out_text   # nothing was sent
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait()


def test_new_process_refuses_an_old_one_of_another_user(start, tmpdir_short):
    """The new process takes guest memory and TAPs only from a process of
    its own user: its cpr socket is 0600, and even opened up to everyone
    (chmod 0777 here), a peer of another uid (nobody) that connects is
    refused by SO_PEERCRED before a byte is read: the new process exits 1
    saying so.  The real old process then finds no listener: its
    migration fails and its guest runs on."""
    with with_another_user(start, tmpdir_short, 'to connect as another user') as (src, src_out, d):
        main, cpr = os.path.join(d, 'main.sock'), os.path.join(d, 'cpr.sock')
        dst = start(*guest('tcg', os.path.join(d, 'dst.txt')),
                    '-incoming', 'config:mode=cpr-transfer', '-incoming', 'unix:' + main,
                    '-incoming', cpr_channel(cpr), wait=False)
        wait_for_path(cpr)
        os.chmod(cpr, 0o777)
        intruder = subprocess.run(
            ['/usr/bin/python3', '-c', 'import os, socket, sys\n'
             'os.setgid(65534); os.setuid(65534)\n'
             's = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n'
             'print("got %d bytes" % len(s.recv(4096)))', cpr],
            capture_output=True, text=True, timeout=20)
        assert intruder.returncode == 0 and intruder.stdout.strip() == 'got 0 bytes', intruder
        assert dst.wait() == 1
        err = errors(dst.proc.stderr.read())
        assert err.startswith('molt: cpr channel unix:%s: the peer (pid ' % cpr), err
        assert 'runs as uid 65534, not 0' in err, err
        q = src.connect()
        q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
        q.ok('migrate', {'channels': channels(main, cpr)})
        info = base.wait_status(q, ('failed', 'completed'))
        assert info['status'] == 'failed', info
        assert q.ok('query-status')['status'] == 'running'
        before = base.last_round(base.read(src_out))
        base.wait_for_text(src_out, 'dirtier: round %d ok' % (before + 1))
        assert 'FAIL' not in base.read(src_out)
