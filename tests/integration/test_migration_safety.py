"""x-ignore-shared, and the destination's verdict (real processes, sockets).

With x-ignore-shared, guest RAM in shared memory that the destination maps
too (a live update on one host) is not sent at all.  Over a socket the
source calls a migration completed only when the destination says it
loaded everything; a refusal - even at the very end, even of damage in
transit - resumes the guest on the source with the destination's reason.
"""

import os
import socket
import threading

import pytest

import test_migration as base
from molt_harness import time_scale


def shared_ram(path: str, share: str = 'on'):
    return ['-object', 'memory-backend-file,id=ram0,size=32M,mem-path=%s,share=%s' % (path, share),
            '-machine', 'memory-backend=ram0']


def ignore_shared(q) -> None:
    q.ok('migrate-set-capabilities', {'capabilities': [
        {'capability': 'x-ignore-shared', 'state': True}]})


def test_ignore_shared_sends_no_ram_and_the_guest_goes_on(start, tmpdir_short, accel):
    """Source and destination map the same file (share=on), as a live
    update on one host does: no RAM crosses, the guest's pages are simply
    there, and the dirtier's checks pass on the destination."""
    mem = os.path.join(tmpdir_short, 'guest-ram')
    path = os.path.join(tmpdir_short, 'mig.sock')
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    src = start(*base.machine_args(accel, src_out), *shared_ram(mem))
    dst = start(*base.machine_args(accel, dst_out), *shared_ram(mem), '-incoming', 'unix:' + path)
    base.listening(dst)
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    ignore_shared(q)
    q.ok('migrate', {'uri': 'unix:' + path})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'completed', info
    assert info['ram']['transferred'] < 64 << 10, info     # device state only
    assert info['ram']['normal'] == 0 and info['ram']['duplicate'] == 0, info
    base.check_destination(dst, dst_out, base.last_round(base.read(src_out)))


@pytest.mark.parametrize('dst_ram', ['private', 'other-file'])
def test_ignore_shared_refused_by_a_destination_without_that_memory(start, tmpdir_short, dst_ram):
    mem = os.path.join(tmpdir_short, 'guest-ram')
    path = os.path.join(tmpdir_short, 'mig.sock')
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    src = start(*base.machine_args('tcg', src_out), *shared_ram(mem))
    other = (shared_ram(os.path.join(tmpdir_short, 'other-ram')) if dst_ram == 'other-file'
             else [])
    dst = start(*base.machine_args('tcg', dst_out), *other, '-incoming', 'unix:' + path)
    base.listening(dst)
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    ignore_shared(q)
    q.ok('migrate', {'uri': 'unix:' + path})
    assert base.wait_status(q, ('completed', 'failed'))['status'] == 'failed'
    assert dst.wait(30 * time_scale()) == 1
    err = dst.proc.stderr.read()
    want = ("is not this destination's" if dst_ram == 'other-file'
            else "this destination's guest RAM is not shared memory")
    assert err.startswith('molt: load of migration failed: x-ignore-shared: ') and want in err, err
    assert q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(src_out))
    base.wait_for_text(src_out, 'dirtier: round %d ok' % (before + 1))


def test_ignore_shared_with_private_ram_migrates_it(start, tmpdir_short):
    """x-ignore-shared skips only shared memory: private RAM still moves."""
    path = os.path.join(tmpdir_short, 'mig.sock')
    info = base.migrate_and_check(start, tmpdir_short, 'tcg', 'unix:' + path, 'unix:' + path,
                                  before_migrate=ignore_shared)
    assert info['ram']['normal'] > 0


def test_a_refusal_at_the_end_resumes_the_source(start, tmpdir_short):
    """The destination refuses only after the whole stream arrived (its
    RAM is not the source's shared memory): over a socket the source hears
    its verdict, reports failed with the destination's reason and runs the
    guest again instead of leaving it stopped in postmigrate."""
    mem = os.path.join(tmpdir_short, 'guest-ram')
    path = os.path.join(tmpdir_short, 'mig.sock')
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    src = start(*base.machine_args('tcg', src_out), *shared_ram(mem))
    dst = start(*base.machine_args('tcg', dst_out), '-incoming', 'unix:' + path)
    base.listening(dst)
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    ignore_shared(q)
    q.ok('migrate-set-capabilities', {'capabilities': [{'capability': 'events', 'state': True}]})
    q.ok('migrate', {'uri': 'unix:' + path})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'failed', info
    refused = 'the destination refused the migration: x-ignore-shared: '
    assert info['error-desc'].startswith(refused), info
    assert q.wait_event('STOP') and q.wait_event('RESUME')
    assert q.ok('query-status')['status'] == 'running'
    assert base.read(dst_out) == ''                        # it never ran there


def flipping_proxy(listen_path: str, target: str, flip_at: int) -> None:
    """Forwards one connection to target, both ways, with the byte at
    flip_at of the source's stream flipped: damage in transit."""
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(listen_path)
    lsock.listen(1)

    def pump(a: socket.socket, b: socket.socket, flip: int) -> None:
        seen = 0
        try:
            while True:
                data = bytearray(a.recv(1 << 16))
                if not data:
                    break
                if seen <= flip < seen + len(data):
                    data[flip - seen] ^= 0x40
                seen += len(data)
                b.sendall(data)
        except OSError:
            pass
        # Only this direction ends: a's writer gets EPIPE from now on, and
        # what comes the other way (the destination's refusal) still
        # passes.  (Shutting both sockets down lost that reply at times.)
        for s, how in ((a, socket.SHUT_RD), (b, socket.SHUT_WR)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def serve() -> None:
        src, _ = lsock.accept()
        dst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dst.connect(target)
        threading.Thread(target=pump, args=(dst, src, -1), daemon=True).start()
        pump(src, dst, flip_at)

    threading.Thread(target=serve, daemon=True).start()


def test_damage_in_transit_is_refused_and_the_source_hears_why(start, tmpdir_short):
    path, proxy = (os.path.join(tmpdir_short, n) for n in ('mig.sock', 'proxy.sock'))
    src_out, dst_out = (os.path.join(tmpdir_short, n) for n in ('src.txt', 'dst.txt'))
    src = start(*base.machine_args('tcg', src_out))
    dst = start(*base.machine_args('tcg', dst_out), '-incoming', 'unix:' + path)
    base.listening(dst)
    flipping_proxy(proxy, path, 1 << 20)                  # inside RAM data
    base.wait_for_text(src_out, 'dirtier: round 2 ok')
    q = src.connect()
    q.ok('migrate', {'uri': 'unix:' + proxy})
    info = base.wait_status(q, ('completed', 'failed'))
    assert info['status'] == 'failed', info
    assert info['error-desc'].startswith('the destination refused the migration: '), info
    assert 'CRC mismatch' in info['error-desc'], info
    assert dst.wait(30 * time_scale()) == 1
    assert q.ok('query-status')['status'] == 'running'
    before = base.last_round(base.read(src_out))
    base.wait_for_text(src_out, 'dirtier: round %d ok' % (before + 1))
