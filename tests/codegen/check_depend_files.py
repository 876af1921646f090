#!/usr/bin/env python3
"""Checks that Meson's list of generator files (codegen/meson.build,
qapi_gen_depends) names exactly the .py and .j2 files in codegen/, so
that editing any of them regenerates the API.

Usage: check_depend_files.py CODEGEN_DIR LISTED_FILE...
"""

import os
import sys


def main() -> int:
    codegen, listed = sys.argv[1], sys.argv[2:]
    on_disk = set()
    for root, dirs, files in os.walk(codegen):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for f in files:
            if f.endswith(('.py', '.j2')):
                on_disk.add(os.path.relpath(os.path.join(root, f), codegen))
    named = {os.path.relpath(os.path.realpath(f), os.path.realpath(codegen))
             for f in listed}
    missing = sorted(on_disk - named)
    stale = sorted(named - on_disk)
    for f in missing:
        print('FAIL: codegen/%s is not in codegen/meson.build' % f)
    for f in stale:
        print('FAIL: codegen/meson.build names %s, which does not exist' % f)
    ok = not missing and not stale
    print('%s: %d generator files listed' % ('ok' if ok else 'FAIL',
                                             len(named)))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
