#!/usr/bin/env python3
"""Prints the true test totals of a `meson test` run as one line:
`N passed, N failed, N skipped`.

Meson counts each registered test once, but a doctest executable holds
many test cases and a script test many checks.  From Meson's
testlog.json this counts, per test: the line "# molt-tests: N passed,
N failed[, N skipped]" that molt's script tests print (the last one, at
the start of a line; it wins, as a script that runs other tests, like
the nested KVM lane, states the totals itself), or else the cases of
doctest's summary line ("[doctest] test cases: N | N passed | N failed |
N skipped"), or else the test itself as one.  A test Meson saw fail
counts at least one failure even if its output claimed otherwise (a
crash after the summary, a timeout).  Exit status 1 if anything failed.
With several logs (make check's lanes: the main build and the sanitizer
build) the totals are over all of them; a log that is missing counts as
one failure (a lane that did not run).

Usage: test-summary.py BUILDDIR/meson-logs/testlog.json [MORE.json ...]
"""

import json
import re
import sys
from typing import Dict, Tuple

DOCTEST = re.compile(r'\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|'
                     r'\s*(\d+) failed \|\s*(\d+) skipped')
MOLT = re.compile(r'^# molt-tests: (\d+) passed, (\d+) failed'
                  r'(?:, (\d+) skipped)?\s*$', re.M)
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def counts(test: Dict[str, object]) -> Tuple[int, int, int]:
    """(passed, failed, skipped) of one test record."""
    result = str(test.get('result', ''))
    out = ANSI.sub('', str(test.get('stdout') or ''))
    if result == 'SKIP':
        return 0, 0, 1
    found = MOLT.findall(out)
    m = DOCTEST.search(out)
    if found:
        p, f, s = found[-1]
        passed, failed, skipped = int(p), int(f), int(s or 0)
    elif m:
        passed, failed, skipped = (int(m.group(i)) for i in (2, 3, 4))
    else:
        passed, failed, skipped = (1, 0, 0) if result == 'OK' \
            else (0, 1, 0)
    if result not in ('OK', 'EXPECTEDFAIL') and failed == 0:
        failed = 1
    return passed, failed, skipped


def main() -> int:
    total = [0, 0, 0]
    for path in sys.argv[1:]:
        try:
            with open(path, encoding='utf-8') as fp:
                for line in fp:
                    if line.strip():
                        for i, n in enumerate(counts(json.loads(line))):
                            total[i] += n
        except (OSError, ValueError) as err:
            print('test-summary: %s' % err, file=sys.stderr)
            total[1] += 1
    print('%d passed, %d failed, %d skipped' % tuple(total))
    return 1 if total[1] else 0


if __name__ == '__main__':
    sys.exit(main())
