#!/usr/bin/env python3
"""The "add a parameter" path, end to end.

tests/codegen/add_parameter.py copied molt's schema and added one
MigrationParameters member, vcpu-dirty-limit ([[range 1.., default 1]]),
and nothing else; Meson built that copy like the real schema.  This checks
that the copy's molt-keyval, introspection data and manual all show the
new member, with its range enforced, and that the real build does not
(so the checks can fail).

Usage: test_add_parameter.py NEW_KEYVAL NEW_DOC OLD_KEYVAL OLD_DOC
"""

import json
import subprocess
import sys
from typing import Callable, List, Tuple

NAME = 'vcpu-dirty-limit'


def run(exe: str, *args: str) -> Tuple[int, str, str]:
    p = subprocess.run([exe, *args], capture_output=True, text=True,
                       check=False)
    return p.returncode, p.stdout, p.stderr


def params_members(exe: str) -> List[str]:
    """Member names of MigrationParameters in exe's query-qmp-schema."""
    rc, out, _ = run(exe, '--schema')
    assert rc == 0
    schema = json.loads(out)
    for entity in schema:
        if entity.get('meta-type') != 'object':
            continue
        names = [m['name'] for m in entity['members']]
        if 'multifd-channels' in names and 'max-bandwidth' in names:
            return names
    raise AssertionError('no MigrationParameters object in the schema')


def main() -> int:
    new, new_doc, old, old_doc = sys.argv[1:5]
    with open(new_doc, encoding='utf-8') as fp:
        new_manual = fp.read()
    with open(old_doc, encoding='utf-8') as fp:
        old_manual = fp.read()
    checks: List[Tuple[str, Callable[[], bool]]] = [
        ('keyval sets the new member',
         lambda: run(new, '--type', 'MigrationParameters',
                     NAME + '=100,mode=cpr-transfer')
         == (0, '{"%s": 100, "mode": "cpr-transfer"}\n' % NAME, '')),
        ('JSON sets the new member',
         lambda: run(new, '--type', 'MigrationParameters',
                     '{"%s": 7}' % NAME) == (0, '{"%s": 7}\n' % NAME, '')),
        ('its range is enforced',
         lambda: run(new, '--type', 'MigrationParameters', NAME + '=0')
         == (1, '', "molt-keyval: Parameter '%s' expects a value no "
             "less than 1\n" % NAME)),
        ('its type is enforced',
         lambda: run(new, '--type', 'MigrationParameters', NAME + '=x')[0]
         == 1),
        ('help lists it with range and default',
         lambda: any(line.lstrip().startswith(NAME + '=<uint64>')
                     and 'default 1' in line
                     for line in run(new, '--type', 'MigrationParameters',
                                     'help')[1].splitlines())),
        ('introspection lists it', lambda: NAME in params_members(new)),
        ('the manual documents it',
         lambda: NAME in new_manual and 'Dirty page rate limit' in new_manual),
        ('the real build rejects it',
         lambda: run(old, '--type', 'MigrationParameters', NAME + '=1')
         == (1, '', "molt-keyval: Parameter '%s' is unexpected\n" % NAME)),
        ('the real introspection lacks it',
         lambda: NAME not in params_members(old)),
        ('the real manual lacks it', lambda: NAME not in old_manual),
    ]
    failed = 0
    for what, check in checks:
        try:
            ok = check()
        except (AssertionError, ValueError, OSError) as err:
            ok = False
            print('  error: %s' % err)
        print('%s: %s' % ('ok' if ok else 'FAIL', what))
        failed += not ok
    print('# molt-tests: %d passed, %d failed'
          % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
