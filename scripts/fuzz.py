#!/usr/bin/env python3
"""`make fuzz`: runs every fuzz target for a while (fuzz/README.md).

    scripts/fuzz.py [--seconds N] [--build DIR] [--merge] [--only NAME,...]

Configures the clang sanitizer and fuzzing build (DIR, default build-san)
unless it exists, builds the fuzz-* executables, then runs each libFuzzer
target for N seconds (default: $FUZZ_SECONDS or 60) through
fuzz/run_fuzzer.py, from a copy of its seed corpus kept in
DIR/fuzz-work/<name>, and the schema generator's harness for as long.
Crashes, leaks, timeouts and sanitizer reports fail the run; reproducers
go to DIR/fuzz-artifacts/ and their paths are printed.  --merge adds the
inputs that found new coverage to fuzz/corpus/<name>/ (review, then
commit them).  One target at a time: each may use a core of its own
while the machine's other core builds or runs tests.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ['keyval', 'qmp', 'migration_stream', 'virtqueue']
SETUP = ['-Dwerror=true', '-Db_sanitize=address,undefined', '-Db_lundef=false',
         '-Dfuzzing=true', '-Doptimization=1']   # as the Makefile's SAN_SETUP_OPTS


def build(builddir: str, targets: List[str]) -> None:
    if not os.path.exists(os.path.join(builddir, 'build.ninja')):
        env = dict(os.environ, CC='clang', CXX='clang++')
        subprocess.run(['meson', 'setup', builddir] + SETUP, cwd=ROOT, env=env, check=True)
    out = subprocess.run(['meson', 'configure', builddir], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    if not re.search(r'^\s*fuzzing\s+true', out, re.M):
        sys.exit('fuzz: %s is not a -Dfuzzing=true build (remove it or pick another)' % builddir)
    subprocess.run(['ninja', '-C', builddir] + ['fuzz/fuzz-' + t for t in targets],
                   cwd=ROOT, check=True)


def run_target(name: str, args: argparse.Namespace, builddir: str) -> Dict[str, str]:
    cmd = [sys.executable, os.path.join(ROOT, 'fuzz', 'run_fuzzer.py'),
           '--seconds', str(args.seconds),
           '--work', os.path.join(builddir, 'fuzz-work', name),
           '--artifacts', os.path.join(builddir, 'fuzz-artifacts'),
           os.path.join(builddir, 'fuzz', 'fuzz-' + name),
           os.path.join(ROOT, 'fuzz', 'corpus', name),
           os.path.join(ROOT, 'fuzz', 'regressions', name)]
    if args.merge:
        cmd[2:2] = ['--merge-into', os.path.join(ROOT, 'fuzz', 'corpus', name)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = os.path.join(builddir, 'fuzz-work', name + '.log')
    with open(log, 'w') as f:
        f.write(proc.stdout)
    summary = re.search(r'^summary: (.*)$', proc.stdout, re.M)
    return {'name': name, 'ok': str(proc.returncode == 0), 'log': log,
            'summary': summary.group(1) if summary else '',
            'reproducers': ' '.join(re.findall(r'^REPRODUCER: (\S+)', proc.stdout, re.M))}


def run_schema(args: argparse.Namespace, builddir: str) -> Dict[str, str]:
    crash_dir = os.path.join(builddir, 'fuzz-artifacts', 'schema')
    cmd = [sys.executable, os.path.join(ROOT, 'fuzz', 'fuzz_schema.py'),
           '--seconds', str(args.seconds), '--seed', str(args.seed),
           '--codegen', os.path.join(ROOT, 'codegen'), '--crash-dir', crash_dir,
           os.path.join(ROOT, 'schema'), os.path.join(ROOT, 'tests', 'codegen')]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env)
    counts = re.search(r'^(\d+ schemas, \d+ failures)$', proc.stdout, re.M)
    return {'name': 'schema', 'ok': str(proc.returncode == 0), 'log': '',
            'summary': counts.group(1) if counts else proc.stdout[-500:],
            'reproducers': ' '.join(re.findall(r'reproducer: (\S+)', proc.stdout))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seconds', type=int, default=int(os.environ.get('FUZZ_SECONDS', '60')))
    ap.add_argument('--build', default='build-san')
    ap.add_argument('--merge', action='store_true',
                    help='merge inputs with new coverage into fuzz/corpus/')
    ap.add_argument('--only', help='comma-separated targets (%s, schema)' % ', '.join(TARGETS))
    ap.add_argument('--seed', type=int, default=1, help="the schema harness's random seed")
    args = ap.parse_args()
    names = args.only.split(',') if args.only else TARGETS + ['schema']
    unknown = set(names) - set(TARGETS + ['schema'])
    if unknown:
        sys.exit('fuzz: unknown target(s): %s' % ', '.join(sorted(unknown)))
    builddir = os.path.join(ROOT, args.build)
    native = [n for n in names if n != 'schema']
    if native:
        build(builddir, native)
        os.makedirs(os.path.join(builddir, 'fuzz-work'), exist_ok=True)
    results = []
    for name in names:
        print('fuzz: %s for %d s' % (name, args.seconds), flush=True)
        r = run_schema(args, builddir) if name == 'schema' else run_target(name, args, builddir)
        results.append(r)
        print('  %s  %s' % ('ok  ' if r['ok'] == 'True' else 'FAIL', r['summary']), flush=True)
        if r['reproducers']:
            print('  reproducers: %s' % r['reproducers'])
        if r['ok'] != 'True' and r['log']:
            print('  log: %s' % r['log'])
    failed = [r['name'] for r in results if r['ok'] != 'True']
    which = (': ' + ', '.join(failed)) if failed else ''
    print('fuzz: %d targets, %d failed%s' % (len(results), len(failed), which))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
