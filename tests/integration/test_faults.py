"""Fault injection (runtime/fault_inject.h, docs/hardening.md): each step of
a migration and of a CPR update made to fail in turn - armed with the QMP
command x-inject-fault on the source, with MOLT_FAULT_INJECT on the new
process - and for each, the guest runs on in exactly one process with its
memory whole.  The dirtier guest rewrites and checks every page of its RAM
each round: it goes on with its rounds where it survives, and prints FAIL
if any page was lost or mixed up.  TAP faults run under traffic and lose
no datagram.
"""

import os

import pytest

import test_migration as base
from molt_harness import Qmp, time_scale
from test_migration_multifd import multifd
from test_cpr import (channels, cpr_channel, echo_machine, exec_update, guest, migrate_and_wait,
                      ns_ok, reconnect, tap_links, under_traffic, wait_for_path)


def arm(q, spec: str) -> str:
    """Arms POINT[@N] on q's process; returns the point."""
    point, _, nth = spec.partition('@')
    q.ok('x-inject-fault', {'point': point, 'nth': int(nth or 1)})
    return point


def env(spec: str) -> dict:
    return {'MOLT_FAULT_INJECT': spec}


def running(m) -> bool:
    """Whether m's process is alive and runs the guest.  A new process of
    cpr-transfer still waiting for the CPR state (it has no machine yet)
    does not answer QMP: it runs nothing.  Nor does one that exits while
    asked (its socket gone, refused or hung up)."""
    if m.proc.poll() is not None:
        return False
    try:
        return Qmp(m.qmp_path, timeout=2).ok('query-status')['status'] == 'running'
    except (OSError, EOFError):         # timed out, no socket, refused, hung up
        return False


def exits_with_failure(m, injected: bool = True) -> None:
    """A destination that failed to load exits (exit-on-error); with
    `injected`, for the fault injected in it."""
    assert m.proc.wait(20 * time_scale()) == 1
    err = m.proc.stderr.read()
    assert 'load of migration failed' in err or 'injected fault at ' in err, err
    assert not injected or 'injected fault at ' in err, err


def goes_on(out: str, since: int) -> None:
    """The guest's rounds go on past `since`, every page checked."""
    base.wait_for_text(out, 'dirtier: round %d ok' % (since + 2))
    assert 'FAIL' not in base.read(out)


def resumed_intact(src, q, out: str, point: str, info: dict) -> None:
    """The source heard of the failure and runs the guest on."""
    assert info['status'] == 'failed', info
    assert q.ok('query-status')['status'] == 'running'
    goes_on(out, base.last_round(base.read(out)))


class Pair:
    """A source running the dirtier and a destination waiting on unix."""

    def __init__(self, start, tmp: str, dst_env=None) -> None:
        self.main = os.path.join(tmp, 'main.sock')
        self.src_out, self.dst_out = os.path.join(tmp, 'src.txt'), os.path.join(tmp, 'dst.txt')
        self.src = start(*base.machine_args('tcg', self.src_out))
        self.dst = start(*base.machine_args('tcg', self.dst_out), '-incoming', 'unix:' + self.main,
                         env=dst_env)
        base.listening(self.dst)
        base.wait_for_text(self.src_out, 'dirtier: round 2 ok')
        self.q = self.src.connect()
        base.converge(self.q)

    def migrate(self) -> dict:
        return migrate_and_wait(self.q, {'uri': 'unix:' + self.main})


# Source faults that fail the migration before the destination has it all.
SOURCE_FAULTS = ['src-header', 'src-ram', 'src-save-state', 'src-section',
                 'src-section@2', 'src-end']
# Destination faults: it refuses (or cannot confirm) and exits.
DEST_FAULTS = ['dst-header', 'dst-ram', 'dst-ram@50', 'dst-section', 'dst-section@3',
               'dst-load-state', 'dst-verdict']
# Those the source hears the reason of: after the return path's section.
HEARD = ('dst-ram', 'dst-section@3', 'dst-load-state')


@pytest.mark.parametrize('spec', SOURCE_FAULTS)
def test_source_fault_the_source_runs_on(start, tmpdir_short, spec):
    p = Pair(start, tmpdir_short)
    point = arm(p.q, spec)
    info = p.migrate()
    assert info['error-desc'].endswith('injected fault at ' + point), info
    resumed_intact(p.src, p.q, p.src_out, point, info)
    exits_with_failure(p.dst, injected=False)


@pytest.mark.parametrize('spec', DEST_FAULTS)
def test_destination_fault_the_source_runs_on(start, tmpdir_short, spec):
    p = Pair(start, tmpdir_short, dst_env=env(spec))
    info = p.migrate()
    point = spec.partition('@')[0]
    if spec.startswith(HEARD):
        assert 'injected fault at ' + point in info['error-desc'], info
    resumed_intact(p.src, p.q, p.src_out, point, info)
    exits_with_failure(p.dst)


def test_source_cannot_connect_then_migrates(start, tmpdir_short):
    """Failing to open the channel fails the command itself; the guest
    never stopped, and a second try completes."""
    p = Pair(start, tmpdir_short)
    arm(p.q, 'src-connect')
    r = p.q.cmd('migrate', {'uri': 'unix:' + p.main})
    assert r['error']['desc'] == 'injected fault at src-connect', r
    assert running(p.src) and not running(p.dst)
    info = p.migrate()
    assert info['status'] == 'completed', info
    base.check_destination(p.dst, p.dst_out, base.last_round(base.read(p.src_out)))


def test_multifd_channel_fault_the_source_runs_on(start, tmpdir_short):
    """multifd's handshake: the second connection is its first RAM
    channel (the main channel is the first); it fails, so does the
    migration, and the source runs on."""
    p = Pair(start, tmpdir_short)
    multifd(2)(p.q)
    arm(p.q, 'src-connect@2')
    info = p.migrate()
    assert 'multifd channel 0: injected fault at src-connect' in info['error-desc'], info
    resumed_intact(p.src, p.q, p.src_out, 'src-connect', info)
    exits_with_failure(p.dst, injected=False)


def test_verdict_lost_the_destination_runs_and_the_source_stays_paused(start, tmpdir_short):
    """The stream went whole, the source cannot learn the verdict: the
    destination runs the guest, so the source must not resume it."""
    p = Pair(start, tmpdir_short)
    arm(p.q, 'src-verdict')
    info = p.migrate()
    assert info['status'] == 'failed', info
    assert info['error-desc'].startswith("the destination's verdict is unknown"), info
    assert p.q.ok('query-status')['status'] == 'paused'
    base.check_destination(p.dst, p.dst_out, base.last_round(base.read(p.src_out)))
    assert not running(p.src)


def test_unknown_point_is_refused(start):
    m = start('-S')
    q = m.connect()
    r = q.cmd('x-inject-fault', {'point': 'src-nothing'})
    assert r['error']['desc'] == "unknown fault injection point 'src-nothing'", r
    r = q.cmd('x-inject-fault', {'point': 'src-end', 'nth': 0})
    assert r['error']['desc'] == 'fault injection: the pass to fail counts from 1', r


def test_bad_environment_is_refused(start, tmpdir_short):
    m = start('-S', env=env('src-end@x'), wait=False)
    assert m.proc.wait(10) == 1
    assert "MOLT_FAULT_INJECT: 'src-end@x'" in m.proc.stderr.read()


class CprPair:
    """An old molt running the dirtier on shared memory and a new one
    waiting for it on a cpr channel (mode cpr-transfer)."""

    def __init__(self, start, tmp: str, dst_env=None) -> None:
        self.main, self.cpr = os.path.join(tmp, 'main.sock'), os.path.join(tmp, 'cpr.sock')
        self.src_out, self.dst_out = os.path.join(tmp, 'src.txt'), os.path.join(tmp, 'dst.txt')
        self.src = start(*guest('tcg', self.src_out))
        self.dst = start(*guest('tcg', self.dst_out), '-incoming', 'config:mode=cpr-transfer',
                         '-incoming', 'unix:' + self.main, '-incoming', cpr_channel(self.cpr),
                         env=dst_env)
        base.wait_for_text(self.src_out, 'dirtier: round 2 ok')
        self.q = self.src.connect()
        self.q.ok('migrate-set-parameters', {'mode': 'cpr-transfer'})
        wait_for_path(self.cpr)

    def migrate(self) -> dict:
        return migrate_and_wait(self.q, {'channels': channels(self.main, self.cpr)})


CPR_SOURCE_FAULTS = ['src-save-state', 'cpr-connect', 'cpr-send-state', 'src-connect',
                     'src-header', 'src-section', 'src-end']
CPR_DEST_FAULTS = ['cpr-receive-state', 'cpr-adopt-ram', 'dst-header', 'dst-section@2',
                   'dst-load-state', 'dst-verdict']


@pytest.mark.parametrize('spec', CPR_SOURCE_FAULTS)
def test_cpr_transfer_source_fault_the_old_process_runs_on(start, tmpdir_short, spec):
    p = CprPair(start, tmpdir_short)
    point = arm(p.q, spec)
    info = p.migrate()
    assert 'injected fault at ' + point in info['error-desc'], info
    resumed_intact(p.src, p.q, p.src_out, point, info)
    # The new process never runs it: it exits, or still waits for a main
    # channel that will not come.
    assert not running(p.dst)
    assert 'dirtier: round' not in base.read(p.dst_out)


@pytest.mark.parametrize('spec', CPR_DEST_FAULTS)
def test_cpr_transfer_new_process_fault_the_old_process_runs_on(start, tmpdir_short, spec):
    p = CprPair(start, tmpdir_short, dst_env=env(spec))
    info = p.migrate()
    resumed_intact(p.src, p.q, p.src_out, spec.partition('@')[0], info)
    exits_with_failure(p.dst)
    assert 'dirtier: round' not in base.read(p.dst_out)


def test_cpr_transfer_verdict_lost_the_new_process_runs(start, tmpdir_short):
    p = CprPair(start, tmpdir_short)
    arm(p.q, 'src-verdict')
    info = p.migrate()
    assert info['status'] == 'failed', info
    assert p.q.ok('query-status')['status'] == 'paused'
    base.check_destination(p.dst, p.dst_out, base.last_round(base.read(p.src_out)))


def test_cpr_exec_that_fails_to_exec_resumes(start, tmpdir_short):
    src, q, src_out, _, state = exec_update(start, tmpdir_short, 'tcg')
    pid = src.proc.pid
    arm(q, 'cpr-exec')
    info = migrate_and_wait(q, {'uri': 'file:' + state})
    assert info['error-desc'] == 'cpr-exec: injected fault at cpr-exec', info
    assert src.proc.pid == pid
    resumed_intact(src, q, src_out, 'cpr-exec', info)


def test_cpr_exec_new_program_failing_to_load_stays_and_loads_again(
        start, tmpdir_short, monkeypatch):
    """After the exec there is no old process to go back to: the new
    program whose load failed keeps the guest's memory, stays, and loads
    the state again when asked (migrate-incoming)."""
    monkeypatch.setenv('MOLT_FAULT_INJECT', 'dst-load-state')   # across the exec
    src, q, src_out, dst_out, state = exec_update(start, tmpdir_short, 'tcg')
    q.ok('migrate', {'uri': 'file:' + state})
    qn = reconnect(src, 'failed')
    info = qn.ok('query-migrate')
    assert info['error-desc'] == 'injected fault at dst-load-state', info
    assert qn.ok('query-status')['status'] == 'inmigrate'
    assert src.proc.poll() is None
    qn.ok('migrate-incoming', {'uri': 'file:' + state})
    base.wait_status(qn, ('completed',))
    assert qn.ok('query-status')['status'] == 'running'
    goes_on(dst_out, base.last_round(base.read(src_out)))


def tap_pair(netns, start, tmp: str, incoming_config: str, dst_env: dict, extra=()):
    src_out, dst_out = os.path.join(tmp, 'src.txt'), os.path.join(tmp, 'dst.txt')
    src = start(*echo_machine(src_out), netns=netns)
    base.wait_for_text(src_out, 'port 7777\r\n')
    ns_ok(netns, 'ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'molttap0')
    ns_ok(netns, 'ip', 'link', 'set', 'molttap0', 'up')
    dst = start(*echo_machine(dst_out), '-incoming', incoming_config, *extra, netns=netns,
                env=dst_env)
    return src, dst


def test_tap_adoption_fault_in_the_stream_loses_no_datagram(netns, start, tmpdir_short):
    """backend-transfer in mode normal: the destination fails to take the
    TAP over; the source, which kept it, answers every datagram."""
    main = os.path.join(tmpdir_short, 'main.sock')
    src, dst = tap_pair(netns, start, tmpdir_short, 'config:backend-transfer.0=virtio-net-tap',
                        env('dst-adopt-tap'), ('-incoming', 'unix:' + main))
    base.listening(dst)
    before = tap_links(netns)
    q = src.connect()
    q.ok('migrate-set-parameters', {'backend-transfer': ['virtio-net-tap']})
    sent, answered, info = under_traffic(netns, lambda: migrate_and_wait(
        q, {'uri': 'unix:' + main}))
    assert info['status'] == 'failed' and 'injected fault at dst-adopt-tap' in info['error-desc']
    assert sent > 100 and answered == sent, (sent, answered)
    assert running(src) and tap_links(netns) == before
    exits_with_failure(dst)


def test_cpr_tap_adoption_fault_loses_no_datagram(netns, start, tmpdir_short):
    """cpr-transfer with backend-transfer: the new process fails to adopt
    the TAP from the CPR state and exits; the old one runs on with it."""
    main, cpr = (os.path.join(tmpdir_short, n) for n in ('main.sock', 'cpr.sock'))
    src, dst = tap_pair(netns, start, tmpdir_short,
                        'config:mode=cpr-transfer,backend-transfer.0=virtio-net-tap',
                        env('cpr-adopt-tap'),
                        ('-incoming', 'unix:' + main, '-incoming', cpr_channel(cpr)))
    wait_for_path(cpr)
    q = src.connect()
    q.ok('migrate-set-parameters', {'mode': 'cpr-transfer', 'backend-transfer': ['virtio-net-tap']})
    sent, answered, info = under_traffic(netns, lambda: migrate_and_wait(
        q, {'channels': channels(main, cpr)}))
    assert info['status'] == 'failed', info
    assert sent > 100 and answered == sent, (sent, answered)
    assert running(src)
    exits_with_failure(dst)
