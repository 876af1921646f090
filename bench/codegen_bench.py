#!/usr/bin/env python3
"""Benchmark: the generator on a schema of QEMU's size, side by side
with the same schema's parse-only time.

Writes the synthetic schema (tests/tools/gen_large_schema.py), then times,
each as a fresh process as Meson runs it, best / median of RUNS:
  parse-only   codegen/qapi/parser.py on the schema and its includes
  front end    parse + shape checks + model (Schema())
  full         qapi-gen.py: everything above, every back end, writing files
and prints the ratios full / parse-only and full / front end.  The first
full run fills Jinja2's template cache (as the first build does) and is
not counted.

Usage: codegen_bench.py [RUNS]   (from anywhere; paths are relative to
this file)
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CODEGEN = os.path.join(TOP, 'codegen')
PARSE = ('import sys; sys.path.insert(0, %r)\n'
         'from qapi.parser import Parser\n'
         'Parser(sys.argv[1])' % CODEGEN)
FRONT = ('import sys; sys.path.insert(0, %r)\n'
         'from qapi.model import Schema\n'
         'Schema(sys.argv[1])' % CODEGEN)


def wall(cmd: List[str], runs: int) -> List[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable,
                        os.path.join(TOP, 'tests/tools/gen_large_schema.py'),
                        tmp], check=True)
        schema = os.path.join(tmp, 'large.json')
        with open(schema, encoding='utf-8') as fp:
            lines = fp.read().count('\n')
        for name in os.listdir(tmp):
            if name.startswith('mod'):
                with open(os.path.join(tmp, name), encoding='utf-8') as fp:
                    lines += fp.read().count('\n')
        out = os.path.join(tmp, 'out')
        full_cmd = [sys.executable, os.path.join(CODEGEN, 'qapi-gen.py'),
                    '-o', out, schema]
        wall(full_cmd, 1)
        results = {
            'parse-only': wall([sys.executable, '-c', PARSE, schema], runs),
            'front end': wall([sys.executable, '-c', FRONT, schema], runs),
            'full generator': wall(full_cmd, runs),
        }
        files = len([f for f in os.listdir(out) if not f.startswith('.')])
    print('synthetic schema: %d lines; generator writes %d files'
          % (lines, files))
    print('%-16s %10s %10s' % ('stage', 'best s', 'median s'))
    for name, walls in results.items():
        print('%-16s %10.3f %10.3f' % (name, min(walls),
                                       statistics.median(walls)))
    full = min(results['full generator'])
    print('ratio full / parse-only: %.2f; full / front end: %.2f'
          % (full / min(results['parse-only']),
             full / min(results['front end'])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
