#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded time (fuzz/README.md): the
Meson tests of the fuzzing build and scripts/fuzz.py use it.

    run_fuzzer.py [--seconds N] [--work DIR] [--artifacts DIR] [--merge-into DIR]
                  FUZZER CORPUS [MORE_INPUTS...]

CORPUS is copied into a work directory (a temporary one unless --work is
given) and the fuzzer grows that copy, so the repository is never written;
MORE_INPUTS (e.g. fuzz/regressions/<name>) are read as seeds too.  Limits:
-max_total_time=N, -timeout=10 per input, -rss_limit_mb=2048, -max_len
large enough for the largest seed.  A crash, leak, timeout or out-of-memory
fails the run; the reproducer is kept in --artifacts (default: a
"fuzz-artifacts" directory in the current one) and its path printed.
With --merge-into DIR, inputs that add coverage are merged into DIR
(libFuzzer -merge=1) after the run.  The last line counts one test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def largest_input(dirs: list[str]) -> int:
    size = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in files:
                size = max(size, os.path.getsize(os.path.join(root, f)))
    return size


def copy_inputs(src: str, dest: str) -> None:
    for root, _, files in os.walk(src):
        for f in files:
            if not f.startswith('README') and not f.startswith('.'):
                shutil.copy(os.path.join(root, f), os.path.join(dest, f))


def run(args: argparse.Namespace, work: str) -> int:
    corpus = os.path.join(work, 'corpus')
    os.makedirs(corpus, exist_ok=True)
    copy_inputs(args.corpus, corpus)
    extra = [d for d in args.more if os.path.isdir(d)]
    seeds = os.path.join(work, 'seeds')   # READMEs left out
    os.makedirs(seeds, exist_ok=True)
    for d in extra:
        copy_inputs(d, seeds)
    artifacts = os.path.abspath(args.artifacts)
    os.makedirs(artifacts, exist_ok=True)
    max_len = max(4096, largest_input([corpus, seeds]))
    cmd = [args.fuzzer, corpus, seeds,
           '-max_total_time=%d' % args.seconds, '-timeout=10', '-rss_limit_mb=2048',
           '-max_len=%d' % max_len, '-print_final_stats=1',
           '-artifact_prefix=' + artifacts + '/' + os.path.basename(args.fuzzer) + '-']
    print(' '.join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors='replace')
    out = proc.stdout
    tail = out.splitlines()[-60:]
    print('\n'.join(tail))
    stats = re.findall(r'^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+ .*exec/s: (\d+)',
                       out, re.M)
    if stats:
        runs, cov, ft, corp, speed = stats[-1]
        print('summary: %s runs, %s exec/s, cov %s, ft %s, corpus %s'
              % (runs, speed, cov, ft, corp))
    if proc.returncode != 0:
        for m in re.findall(r'Test unit written to (\S+)', out):
            print('REPRODUCER: %s' % m)
        return 1
    if args.merge_into:
        subprocess.run([args.fuzzer, '-merge=1', args.merge_into, corpus,
                        '-max_len=%d' % max_len], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print('merged new coverage into %s' % args.merge_into)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--work', help='work directory (kept); default: a temporary one')
    ap.add_argument('--artifacts', default='fuzz-artifacts')
    ap.add_argument('--merge-into', help='merge inputs with new coverage into this directory')
    ap.add_argument('fuzzer')
    ap.add_argument('corpus')
    ap.add_argument('more', nargs='*')
    args = ap.parse_args()
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        status = run(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix='molt-fuzz-') as work:
            status = run(args, work)
    print('# molt-tests: %d passed, %d failed' % (status == 0, status != 0))
    return status


if __name__ == '__main__':
    sys.exit(main())
