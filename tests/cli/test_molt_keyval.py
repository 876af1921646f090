#!/usr/bin/env python3
"""molt-keyval as a user meets it: output, exit status and the one-line
errors for bad argv and bad input (nothing on stdout then).

Usage: test_molt_keyval.py MOLT_KEYVAL
"""

import json
import subprocess
import sys
from typing import List, Optional, Tuple

MP = ['--type', 'MigrationParameters']

# (argv, exit status, exact stdout or None, stderr substring)
CASES: List[Tuple[List[str], int, Optional[str], str]] = [
    (['a.b=1,c=x,,y'], 0, '{"a": {"b": "1"}, "c": "x,y"}\n', ''),
    (['--implied-key', 'k', 'v,w=2'], 0, '{"k": "v", "w": "2"}\n', ''),
    (MP + ['max-bandwidth=1G,mode=cpr-exec'], 0,
     '{"max-bandwidth": 1073741824, "mode": "cpr-exec"}\n', ''),
    (MP + ['{"multifd-channels": 4}'], 0, '{"multifd-channels": 4}\n', ''),
    (['--implied-key', 'mode'] + MP + ['cpr-transfer'], 0,
     '{"mode": "cpr-transfer"}\n', ''),
    (MP + ['multifd-channels=0'], 1, '',
     "molt-keyval: Parameter 'multifd-channels' expects a value between "
     "1 and 255\n"),
    (MP + ['mode=bogus'], 1, '',
     "Parameter 'mode' does not accept value 'bogus'"),
    (MP + ['nope=1'], 1, '', "Parameter 'nope' is unexpected"),
    (MP + ['{"mode": 1'], 1, '', 'JSON parse error'),
    (['help'], 1, '', 'Help is not available for this option'),
    (['a=1,=2'], 1, '', "Invalid parameter ''"),
    (['{"a": 1}'], 1, '', 'JSON input needs --type'),
    (['--type', 'Nope', 'a=1'], 1, '', "unknown type 'Nope'"),
    ([], 1, '', 'expected exactly one STRING'),
    (['a=1', 'b=2'], 1, '', 'expected exactly one STRING'),
    (['--type'], 1, '', "option '--type' needs a value"),
    (['--bogus', 'a=1'], 1, '', "unknown option '--bogus'"),
    (['--', '--x=1'], 1, '', "Invalid parameter '--x'"),
]


def main() -> int:
    exe = sys.argv[1]
    failed = 0
    checks = 0

    def check(ok: bool, what: str) -> None:
        nonlocal failed, checks
        checks += 1
        if not ok:
            failed += 1
        print('%s: %s' % ('ok' if ok else 'FAIL', what))

    for argv, status, out, err in CASES:
        p = subprocess.run([exe, *argv], capture_output=True, text=True,
                           check=False)
        ok = (p.returncode == status and (out is None or p.stdout == out)
              and err in p.stderr
              and (status == 0) == (p.stderr == '')
              and p.stderr.count('\n') <= 1)
        if not ok:
            print('  rc=%d stdout=%r stderr=%r' % (p.returncode, p.stdout,
                                                   p.stderr))
        check(ok, ' '.join(argv) or '(no arguments)')
    help_text = subprocess.run([exe] + MP + ['help'], capture_output=True,
                               text=True, check=False).stdout
    check(help_text.startswith('MigrationParameters options:\n')
          and 'multifd-channels=<uint8>' in help_text, 'type help')
    schema = json.loads(subprocess.run([exe, '--schema'], capture_output=True,
                                       text=True, check=True).stdout)
    check(any(e.get('name') == 'migrate-set-parameters' for e in schema),
          '--schema is query-qmp-schema')
    types = subprocess.run([exe, '--list-types'], capture_output=True,
                           text=True, check=True).stdout.split()
    check('MigrationParameters' in types and 'MigrationChannel' in types,
          '--list-types')
    print('# molt-tests: %d passed, %d failed' % (checks - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
