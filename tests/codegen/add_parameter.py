#!/usr/bin/env python3
"""Copies molt's schema and adds one MigrationParameters member to it.

This is the "add a parameter" path of DESIGN.md done by a script, the way
a developer would do it by hand: one doc line and one member line in
schema/migration.json, nothing else.  Meson then builds the copy like the
real schema (tests/codegen/schemas/meson.build), and
tests/codegen/test_add_parameter.py checks that molt-keyval, the
introspection data and the manual of that build show the new member.

The copy is built under a file-name prefix (qapi-gen.py -p), so the
handwritten rules file is copied too, its includes of generated headers
given that prefix.

Usage: add_parameter.py --prefix PREFIX OUTDIR FILE...
"""

import os
import shutil
import sys

DOC_ANCHOR = '# @mode: How the guest is moved.'
DOC = ('# @vcpu-dirty-limit: Dirty page rate limit of each vCPU, in MB/s,\n'
       '#     when @dirty-limit is on.  [[range 1.., default 1]]\n'
       '#\n')
MEMBER_ANCHOR = "            '*mode': 'MigMode',\n"
MEMBER = "            '*vcpu-dirty-limit': 'uint64',\n"


def insert_before(text: str, anchor: str, new: str) -> str:
    if text.count(anchor) != 1:
        sys.exit('add_parameter.py: anchor %r found %d times in '
                 'migration.json' % (anchor, text.count(anchor)))
    return text.replace(anchor, new + anchor)


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[1] != '--prefix':
        sys.exit(__doc__)
    prefix, outdir, files = sys.argv[2], sys.argv[3], sys.argv[4:]
    os.makedirs(outdir, exist_ok=True)
    for f in files:
        dest = os.path.join(outdir, os.path.basename(f))
        if f.endswith('.cpp'):
            with open(f, encoding='utf-8') as fp:
                text = fp.read()
            with open(dest, 'w', encoding='utf-8') as fp:
                fp.write(text.replace('#include "qapi-',
                                      '#include "' + prefix + 'qapi-'))
            continue
        if os.path.basename(f) != 'migration.json':
            shutil.copyfile(f, dest)
            continue
        with open(f, encoding='utf-8') as fp:
            text = fp.read()
        text = insert_before(text, DOC_ANCHOR, DOC)
        text = insert_before(text, MEMBER_ANCHOR, MEMBER)
        with open(dest, 'w', encoding='utf-8') as fp:
            fp.write(text)


if __name__ == '__main__':
    main()
