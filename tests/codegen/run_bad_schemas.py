#!/usr/bin/env python3
"""Golden tests of the schema compiler's diagnostics (QEMU's
tests/qapi-schema, our version).

Usage: run_bad_schemas.py QAPI_GEN BAD_DIR ACCEPT_DIR

Every BAD_DIR/NAME.json must make the generator fail: exit status 1,
nothing on stdout, no traceback, and stderr exactly BAD_DIR/NAME.err.
Every ACCEPT_DIR/NAME.json must be accepted: exit status 0 and nothing
on stderr.  The generator runs with the case's directory as working
directory and the bare file name as argument, so diagnostics name the
file as 'NAME.json:LINE: ...'; files in subdirectories are helpers
(included schemas), not cases.  A diff is printed for each failure,
then one summary line, "# molt-tests: N passed, N failed"; the exit
status is 1 if anything failed.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, NamedTuple, Optional, Tuple


class Outcome(NamedTuple):
    status: int
    stdout: str
    stderr: str


def run_generator(qapi_gen: str, case_dir: str, name: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix='molt-bad-schema-') as outdir:
        proc = subprocess.run(
            [sys.executable, qapi_gen, '-o', outdir, name],
            cwd=case_dir, capture_output=True, text=True, check=False)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def diff(expected: str, actual: str, label: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True),
        fromfile=label + ' (expected)', tofile=label + ' (actual)')
    return ''.join(lines)


def check_bad(qapi_gen: str, case_dir: str, name: str) -> Optional[str]:
    """None if the case passes, else a description of the failure."""
    err_file = os.path.join(case_dir, name[:-len('.json')] + '.err')
    try:
        with open(err_file, encoding='utf-8') as fp:
            expected = fp.read()
    except OSError as err:
        return 'cannot read %s: %s\n' % (err_file, err.strerror)
    out = run_generator(qapi_gen, case_dir, name)
    problems = []
    if out.status != 1:
        problems.append('exit status %d, expected 1\n' % out.status)
    if out.stdout:
        problems.append('unexpected output on stdout:\n' + out.stdout)
    if 'Traceback' in out.stderr:
        problems.append('the generator crashed\n')
    if out.stderr != expected:
        problems.append(diff(expected, out.stderr, name[:-5] + '.err'))
    return ''.join(problems) or None


def check_accept(qapi_gen: str, case_dir: str, name: str) -> Optional[str]:
    out = run_generator(qapi_gen, case_dir, name)
    problems = []
    if out.status != 0:
        problems.append('exit status %d, expected 0\n' % out.status)
    if out.stderr:
        problems.append('unexpected output on stderr:\n' + out.stderr)
    return ''.join(problems) or None


def cases(case_dir: str) -> List[str]:
    return sorted(n for n in os.listdir(case_dir)
                  if n.endswith('.json')
                  and os.path.isfile(os.path.join(case_dir, n)))


def main(argv: List[str]) -> int:
    if len(argv) != 4:
        print('usage: %s QAPI_GEN BAD_DIR ACCEPT_DIR' % argv[0],
              file=sys.stderr)
        return 2
    qapi_gen = os.path.abspath(argv[1])
    bad_dir, accept_dir = argv[2], argv[3]
    Check = Callable[[str, str, str], Optional[str]]
    jobs: List[Tuple[Check, str, str]] = []
    for case_dir, check in ((bad_dir, check_bad),
                            (accept_dir, check_accept)):
        jobs += [(check, case_dir, name) for name in cases(case_dir)]
    # The cases are independent processes: run a few at once, report
    # in order.

    def run(job: Tuple[Check, str, str]) -> Optional[str]:
        check, case_dir, name = job
        return check(qapi_gen, case_dir, name)

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        results = list(pool.map(run, jobs))
    passed = failed = 0
    for (_, case_dir, name), problem in zip(jobs, results):
        if problem is None:
            passed += 1
            continue
        failed += 1
        print('FAIL: %s' % os.path.join(case_dir, name))
        print(problem, end='' if problem.endswith('\n') else '\n')
    print('# molt-tests: %d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
