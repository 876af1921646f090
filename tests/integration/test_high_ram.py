"""Guest RAM above 4 GiB (docs/machine.md "Guest-physical memory map"): with
more than 3.25 GiB, RAM below the MMIO hole stays at 0 and the rest is at
4 GiB, as on a PC.  The device tree lists both windows; the dirtier guest
(tests/guests/dirtier.c) walks both and checks every page, including
after a live migration to a second molt (one backend mapping, sent by
host offset); a dirty rate measurement samples high RAM too; sizes the
layout cannot hold are refused with one clear line.  tcg only: 4.5 GiB
guests are too big for the nested KVM lane (the unit tests cover KVM's
two memory slots and page tables)."""

import os
import subprocess
import time

from molt_harness import guest, run_molt, time_scale
from test_migration import last_round, read, wait_for_text, wait_status

DIRTIER = guest('dirtier')
MIB = 1 << 20
LOW = 3328 * MIB                    # kLowRamLimit: 3.25 GiB
SIZE = 4608 * MIB                   # 4.5 GiB: 1.25 GiB above 4 GiB


def dts(tmpdir: str, *args: str) -> str:
    dtb = os.path.join(tmpdir, 'molt.dtb')
    r = run_molt(*args, '-kernel', DIRTIER, '-machine', 'dumpdtb=' + dtb)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(['dtc', '-I', 'dtb', '-O', 'dts', dtb], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == '', out.stderr
    return out.stdout


def test_device_tree_lists_low_and_high_ram(tmpdir_short):
    # 4.5 GiB: 3.25 GiB from 0, 1.25 GiB (0x50000000) from 4 GiB.
    text = dts(tmpdir_short, '-m', '4608M')
    assert 'reg = <0x00 0x00 0x00 0xd0000000 0x01 0x00 0x00 0x50000000>;' in text
    # Exactly the low window's size: still one range.
    assert 'reg = <0x00 0x00 0x00 0xd0000000>;' in dts(tmpdir_short, '-m', '3328M')
    # 8 GiB: 4.75 GiB above 4 GiB.
    assert 'reg = <0x00 0x00 0x00 0xd0000000 0x01 0x00 0x01 0x30000000>;' in \
        dts(tmpdir_short, '-m', '8G')


def test_impossible_sizes_are_refused(tmpdir_short):
    # A sparse file as RAM (shared: nothing is reserved) that ends past
    # the 1 TiB guest-physical limit once the 0.75 GiB hole is added.
    path = os.path.join(tmpdir_short, 'ram')
    size = (1 << 40) - (1 << 29)
    with open(path, 'wb') as f:
        f.truncate(size)
    r = run_molt('-m', '%dM' % (size >> 20), '-object',
                 'memory-backend-file,id=ram,size=%d,mem-path=%s,share=on' % (size, path),
                 '-machine', 'memory-backend=ram', '-accel', 'tcg', '-kernel', DIRTIER)
    assert r.returncode == 1
    assert r.stderr.startswith('molt: -m: ') and r.stderr.count('\n') == 1, r.stderr
    assert 'above the 1 TiB guest-physical limit' in r.stderr
    # More than the host maps (or, where it would, more than the layout
    # holds): one line either way.
    r = run_molt('-accel', 'tcg', '-m', '64T', '-kernel', DIRTIER)
    assert r.returncode == 1
    assert r.stderr.startswith('molt: -m: ') and r.stderr.count('\n') == 1, r.stderr


def test_dirtier_checks_high_ram_across_a_migration(start, tmpdir_short):
    src_out, dst_out = os.path.join(tmpdir_short, 'src.txt'), os.path.join(tmpdir_short, 'dst.txt')
    sock = os.path.join(tmpdir_short, 'mig.sock')
    args = ['-accel', 'tcg', '-m', '%dM' % (SIZE >> 20), '-kernel', DIRTIER]
    src = start(*args, '-serial', 'file:' + src_out)
    dst = start(*args, '-serial', 'file:' + dst_out, '-incoming', 'unix:' + sock)
    text = wait_for_text(src_out, 'dirtier: round 2 ok', timeout=120)
    # Every page from the end of the image to 3.25 GiB, and all of high RAM.
    header = text.splitlines()[0].split()
    first = int(header[4], 16)
    high_pages = (SIZE - LOW) // 4096
    assert int(header[1]) == (LOW - first) // 4096 + high_pages
    assert 'dirtier: %d of them in RAM from 0x0000000100000000' % high_pages in text

    q = src.connect()
    # Page sampling picks pages all over the backend, high RAM included.
    q.ok('calc-dirty-rate', {'calc-time': 1, 'mode': 'page-sampling'})
    deadline = time.monotonic() + 15 * time_scale()
    while q.ok('query-dirty-rate')['status'] != 'measured':
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert q.ok('query-dirty-rate')['dirty-rate'] > 0

    # The dirtier rewrites all 4.5 GiB every round: auto-converge
    # throttles it after two passes that do not fit.
    q.ok('migrate-set-capabilities', {'capabilities': [
        {'capability': 'auto-converge', 'state': True}]})
    q.ok('migrate-set-parameters', {'cpu-throttle-initial': 99, 'max-bandwidth': 1 << 40})
    q.ok('migrate', {'uri': 'unix:' + sock})
    info = wait_status(q, ('completed', 'failed'), timeout=240)
    assert info['status'] == 'completed', info
    assert info['ram']['total'] == SIZE
    src_round = last_round(read(src_out))

    d = dst.connect()
    deadline = time.monotonic() + 30 * time_scale()
    while d.ok('query-status')['status'] == 'inmigrate' and time.monotonic() < deadline:
        time.sleep(0.05)
    assert d.ok('query-status')['status'] == 'running'
    wait_for_text(dst_out, 'dirtier: round %d ok' % (src_round + 2), timeout=60)
    assert 'FAIL' not in read(dst_out)
    assert 'dirtier: round 1 ok' not in read(dst_out)
