#!/usr/bin/env python3
"""The generator at QEMU's scale: the synthetic schema is of QEMU's size
and the generator handles it in under 1.5 s of CPU time (user + system
of the generator's processes, best of three runs, the first of which may
fill Jinja2's template cache and Python's bytecode cache - kept in the
test's directory even where PYTHONDONTWRITEBYTECODE is set, so that what
is measured is the generator's work on the schema, not the compiling of
its own modules).  CPU time, not wall time: on a busy
machine (make check runs lanes side by side) wall time measures the
neighbours; the wall times are printed too.

Whether the generated code compiles is checked by the build itself: Meson
compiles the same schema's output as the 'large' API library
(tests/codegen/schemas/meson.build), and tests/codegen/large_schema_check
links against it.

Usage: test_large_schema.py QAPI_GEN GEN_LARGE_SCHEMA
"""

import glob
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

LIMIT_S = 1.5
MINIMUM = {'lines': 20000, 'command': 200, 'struct': 400, 'union': 30,
           'alternate': 5, 'event': 40, 'enum': 140, 'if': 100}


def counts(schema_dir: str) -> Dict[str, int]:
    text = ''
    for path in sorted(glob.glob(os.path.join(schema_dir, '*.json'))):
        with open(path, encoding='utf-8') as fp:
            text += fp.read()
    found = {'lines': text.count('\n')}
    for kind in MINIMUM:
        if kind != 'lines':
            found[kind] = len(re.findall(r"'%s':" % kind, text))
    return found


def mtimes(out_dir: str) -> Dict[str, int]:
    return {f: os.stat(os.path.join(out_dir, f)).st_mtime_ns
            for f in os.listdir(out_dir) if not f.startswith('.')}


def read(out_dir: str, name: str) -> str:
    with open(os.path.join(out_dir, name), encoding='utf-8') as fp:
        return fp.read()


def main() -> int:
    qapi_gen, gen_large = sys.argv[1:3]
    results: List[Tuple[str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        schema_dir = os.path.join(tmp, 'schema')
        subprocess.run([sys.executable, gen_large, schema_dir], check=True)
        found = counts(schema_dir)
        for kind, least in MINIMUM.items():
            results.append(('%s: %d >= %d' % (kind, found[kind], least),
                            found[kind] >= least))
        out_dir = os.path.join(tmp, 'out')
        env = dict(os.environ, PYTHONPYCACHEPREFIX=os.path.join(tmp, 'pycache'))
        env.pop('PYTHONDONTWRITEBYTECODE', None)
        walls = []
        cpus = []
        stamps: Dict[str, int] = {}
        for run in range(3):
            if run == 1:
                stamps = mtimes(out_dir)
            start = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            p = subprocess.run([sys.executable, qapi_gen, '-o', out_dir,
                                os.path.join(schema_dir, 'large.json')],
                               capture_output=True, text=True, check=False, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            walls.append(time.perf_counter() - start)
            cpus.append(after.ru_utime + after.ru_stime
                        - before.ru_utime - before.ru_stime)
            if p.returncode != 0:
                print(p.stderr)
                break
        results.append(('generator exits 0', p.returncode == 0))
        best = min(cpus)
        results.append(('generator CPU %.3f s < %.1f s (CPU: %s; wall: %s)'
                        % (best, LIMIT_S, ', '.join('%.3f' % c for c in cpus),
                           ', '.join('%.3f' % w for w in walls)),
                        best < LIMIT_S))
        outputs = [f for f in os.listdir(out_dir) if not f.startswith('.')]
        results.append(('%d output files' % len(outputs),
                        len(outputs) > 200))
        results.append(('a second run rewrites nothing',
                        bool(stamps) and mtimes(out_dir) == stamps))
        other = os.path.join(tmp, 'other')
        subprocess.run([sys.executable, qapi_gen, '-o', other,
                        os.path.join(schema_dir, 'large.json')], check=True)
        results.append(('output is deterministic',
                        all(read(out_dir, f) == read(other, f)
                            for f in outputs)))
    for what, ok in results:
        print('%s: %s' % ('ok' if ok else 'FAIL', what))
    failed = sum(not ok for _, ok in results)
    print('# molt-tests: %d passed, %d failed'
          % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
