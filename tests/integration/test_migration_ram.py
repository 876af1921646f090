"""Guest RAM arrives exactly, whatever the destination held before and
however its RAM path takes it in (pages faulted in ahead of the stream by
helper threads, never-written pages left unread for ZERO records): a
paused source's RAM, saved once straight to a file and once through a
destination that had a kernel of its own loaded, decodes to the same
pages (docs/migration-stream.md gives the record layout read here)."""

import os
import struct
from typing import Dict, Optional

from molt_harness import guest
from test_migration import listening, wait_status

PAGE = 4096
MIB = 1 << 20


def write_pattern(path: str, size: int, block: int) -> None:
    """Alternating blocks of zero and pseudo-random data, zero first."""
    with open(path, 'wb') as f:
        for at in range(0, size, block):
            if (at // block) % 2 == 0:
                f.write(bytes(block))
            else:
                f.write(os.urandom(block))


def ram_pages(path: str) -> Dict[int, Optional[bytes]]:
    """Page number -> its data (None: zero) from a molt migration stream;
    later records win, as they do on a destination."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'MOLTMIG\n'
    pages: Dict[int, Optional[bytes]] = {}
    at = 32
    while True:
        kind = struct.unpack_from('<I', data, at)[0]
        if kind == 1:      # section: 28-byte header, id, payload, CRC
            id_len, payload_len = struct.unpack_from('<II', data, at + 16)
            at += 28 + id_len + payload_len + 4
        elif kind == 2:    # RAM: 24-byte header, then data and CRC unless ZERO
            flags, first, count = struct.unpack_from('<IQI', data, at + 4)
            at += 24
            for i in range(count):
                if flags & 1:
                    pages[first + i] = None
                else:
                    pages[first + i] = data[at + i * PAGE:at + (i + 1) * PAGE]
            if not flags & 1:
                at += count * PAGE + 4
        elif kind == 3:    # end of a pass
            at += 12
        else:
            assert kind == 4, kind
            return pages


def save(m, path: str) -> None:
    q = m.connect()
    q.ok('migrate', {'uri': 'exec:cat > ' + path})
    assert wait_status(q, ('completed', 'failed'))['status'] == 'completed'


def test_ram_arrives_exactly_over_what_the_destination_held(start, tmpdir_short) -> None:
    size = 160 * MIB   # more than the helpers' window (64 MiB) ahead of the stream
    pattern = os.path.join(tmpdir_short, 'pattern.img')
    write_pattern(pattern, size, 8 * MIB)
    source = ['-S', '-accel', 'tcg', '-m', '%dM' % (size // MIB),
              '-kernel', guest('first'),
              '-object', 'memory-backend-file,id=ram,size=%d,mem-path=%s,share=off'
              % (size, pattern), '-machine', 'memory-backend=ram']
    direct = os.path.join(tmpdir_short, 'direct.bin')
    save(start(*source), direct)

    uri = 'unix:' + os.path.join(tmpdir_short, 'mig.sock')
    # The destination's RAM is not zero to begin with: its device tree
    # carries a 12 KiB command line, over pages that are zero on the source.
    dst = start('-accel', 'tcg', '-m', '%dM' % (size // MIB),
                '-kernel', guest('first'), '-append', 'x' * 12288,
                '-incoming', uri)
    listening(dst)
    src = start(*source)
    src.connect().ok('migrate', {'uri': uri})
    assert wait_status(src.connect(), ('completed', 'failed'))['status'] == 'completed'
    assert wait_status(dst.connect(), ('completed', 'failed'))['status'] == 'completed'
    through = os.path.join(tmpdir_short, 'through.bin')
    save(dst, through)

    want, got = ram_pages(direct), ram_pages(through)
    assert len(want) == len(got) == size // PAGE
    differ = [p for p in want if (want[p] or bytes(PAGE)) != (got[p] or bytes(PAGE))]
    assert not differ, 'pages differ, the first: %#x' % (differ[0] * PAGE)
    data_pages = sum(1 for p in want if want[p] is not None)
    assert data_pages >= size // PAGE // 2 - 16
