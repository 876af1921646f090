#!/usr/bin/env python3
"""Fuzzes the schema generator's front end (codegen/qapi: parser, checks,
model) with mutated schemas (fuzz/README.md).

Seeds are the schema files under the directories given (molt's schema/,
the generator's test schemas).  Each iteration picks a seed, applies one
to three mutations (byte flips and insertions of schema syntax, deletion
or duplication of a token or a line, replacement of a string with another
schema word, of a value with another kind of value), and runs
qapi.model.Schema on it in a copy of the seed's directory (so includes
resolve).  The front end must either accept the schema or raise its one
diagnostic type, SchemaError, with a QEMU-style location
("file:line: message"); anything else (another exception, a diagnostic
without location, more than --case-timeout seconds) is a failure: the
input is saved under --crash-dir and the run fails.

The mutations come from a fixed seed (--seed), so a run of N iterations
is reproducible; the run is bounded by --seconds and --iterations.
--replay FILE... runs saved inputs (each next to the directory it came
from is not needed: a saved input is self-contained or fails to include).
The last line counts the iterations for scripts/test-summary.py.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

WORDS = ['str', 'int', 'bool', 'any', 'null', 'size', 'number', 'uint8', 'int64',
         'QType', 'data', 'base', 'union', 'discriminator', 'struct', 'enum',
         'alternate', 'command', 'event', 'include', 'pragma', 'features', 'if',
         'all', 'any', 'not', 'returns', 'boxed', 'gen', 'prefix', 'allow-oob',
         'allow-preconfig', 'success-response', 'coroutine', 'type', 'branches',
         '*name', 'deprecated', 'unstable', 'doc-required', 'command-name-exceptions',
         'member-name-exceptions', 'documentation-exceptions', '', '*', 'q_obj_x',
         'x-name', 'Name', 'molt.json', '../x.json', 'sub/../sub/x.json']
VALUES = ["{}", "[]", "true", "false", "null", "'x'", "{ 'a': 'str' }", "[ 'str' ]",
          "{ 'type': 'str', 'if': 'X' }", "0", "'#'"]
SYNTAX = ["{", "}", "[", "]", "'", ":", ",", "#", "\n", "\\", "##\n", "# @x:", "\r",
          "\t", "\0", "\u00e9", "'\\u0041'"]
LOCATED = re.compile(r'^[^\n:]+:\d+(:\d+)?: .', re.M)
TOKEN = re.compile(r"'(?:[^'\\\n]|\\.)*'|[{}\[\]:,]|#[^\n]*|true|false")
STRING = re.compile(r"'(?:[^'\\\n]|\\.)*'")


def flip(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    if rng.random() < 0.5 and text:
        return text[:i] + chr(rng.randrange(1, 256)) + text[i + 1:]
    return text[:i] + rng.choice(SYNTAX) + text[i:]


def tokens(text: str) -> List[Tuple[int, int]]:
    return [m.span() for m in TOKEN.finditer(text)]


def delete_token(rng: random.Random, text: str) -> str:
    spans = tokens(text)
    if not spans:
        return flip(rng, text)
    a, b = rng.choice(spans)
    return text[:a] + text[b:]


def duplicate_token(rng: random.Random, text: str) -> str:
    spans = tokens(text)
    if not spans:
        return flip(rng, text)
    a, b = rng.choice(spans)
    return text[:b] + text[a:b] + text[b:]


def line_edit(rng: random.Random, text: str) -> str:
    lines = text.split('\n')
    i = rng.randrange(len(lines))
    kind = rng.randrange(3)
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return '\n'.join(lines)


def replace_string(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in STRING.finditer(text)]
    if not spans:
        return flip(rng, text)
    a, b = rng.choice(spans)
    if rng.random() < 0.7:
        new = "'%s'" % rng.choice(WORDS)
    else:
        new = rng.choice(VALUES)
    return text[:a] + new + text[b:]


MUTATORS: List[Callable[[random.Random, str], str]] = [
    flip, delete_token, duplicate_token, line_edit, replace_string, replace_string]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATORS)(rng, text)
    return text


class Timeout(Exception):
    pass


def on_alarm(signum: int, frame: object) -> None:
    raise Timeout()


def run_case(schema_cls: type, error_cls: type, path: str, timeout: int) -> Optional[str]:
    """None if the front end behaved, else what went wrong."""
    signal.alarm(timeout)
    try:
        schema_cls(path)
    except error_cls as err:
        text = str(err)
        if not LOCATED.search(text):
            return 'diagnostic without a location: %r' % text
    except Timeout:
        return 'no answer within %d s' % timeout
    except RecursionError:
        return 'RecursionError\n' + traceback.format_exc()
    except Exception:
        return traceback.format_exc()
    finally:
        signal.alarm(0)
    return None


def find_seeds(dirs: List[str]) -> List[str]:
    seeds = []
    for d in dirs:
        for root, _, files in os.walk(d):
            seeds += [os.path.join(root, f) for f in files if f.endswith('.json')]
    return sorted(seeds)


class Workspace:
    """Copies of the seeds' directories, so a mutated file's includes resolve."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.copies: Dict[str, str] = {}

    def place(self, seed: str) -> str:
        d = os.path.dirname(os.path.abspath(seed))
        if d not in self.copies:
            dest = os.path.join(self.top, str(len(self.copies)))
            shutil.copytree(d, dest, ignore=shutil.ignore_patterns('*.cpp', '*.h', '*.err'))
            self.copies[d] = dest
        return os.path.join(self.copies[d], os.path.basename(seed))


def save_failure(crash_dir: str, n: int, text: str, why: str) -> str:
    os.makedirs(crash_dir, exist_ok=True)
    path = os.path.join(crash_dir, 'schema-crash-%d.json' % n)
    with open(path, 'w', encoding='utf-8', errors='surrogateescape') as f:
        f.write(text)
    with open(path + '.txt', 'w') as f:
        f.write(why)
    return path


def fuzz(args: argparse.Namespace, schema_cls: type, error_cls: type) -> Tuple[int, int]:
    seeds = find_seeds(args.dirs)
    if not seeds:
        sys.exit('fuzz_schema: no seed schemas under %s' % ' '.join(args.dirs))
    texts = {}
    for s in seeds:
        with open(s, encoding='utf-8', errors='surrogateescape') as f:
            texts[s] = f.read()
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    failures = runs = 0
    with tempfile.TemporaryDirectory(prefix='molt-fuzz-schema-') as top:
        ws = Workspace(top)
        while runs < args.iterations and time.monotonic() < deadline:
            seed = rng.choice(seeds)
            text = mutate(rng, texts[seed])
            path = ws.place(seed)
            with open(path, 'w', encoding='utf-8', errors='surrogateescape') as f:
                f.write(text)
            why = run_case(schema_cls, error_cls, path, args.case_timeout)
            with open(path, 'w', encoding='utf-8', errors='surrogateescape') as f:
                f.write(texts[seed])
            runs += 1
            if why is not None:
                failures += 1
                saved = save_failure(args.crash_dir, runs, text, why)
                print('FAIL (seed %s, iteration %d): %s\n  reproducer: %s'
                      % (seed, runs, why.strip(), saved))
    return runs, failures


def replay(args: argparse.Namespace, schema_cls: type, error_cls: type) -> Tuple[int, int]:
    failures = 0
    for path in args.dirs:
        why = run_case(schema_cls, error_cls, path, args.case_timeout)
        if why is not None:
            failures += 1
            print('FAIL %s: %s' % (path, why.strip()))
    return len(args.dirs), failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--codegen', required=True, help="the generator's directory (codegen/)")
    ap.add_argument('--seconds', type=float, default=25)
    ap.add_argument('--iterations', type=int, default=10 ** 9)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--case-timeout', type=int, default=10)
    ap.add_argument('--crash-dir', default='fuzz-schema-crashes',
                    help='where failing inputs go (default: ./fuzz-schema-crashes)')
    ap.add_argument('--replay', action='store_true', help='run the given files as they are')
    ap.add_argument('dirs', nargs='+', help='seed directories (or files, with --replay)')
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.codegen))
    from qapi.model import Schema
    from qapi.source import SchemaError
    signal.signal(signal.SIGALRM, on_alarm)
    runs, failures = (replay if args.replay else fuzz)(args, Schema, SchemaError)
    print('%d schemas, %d failures' % (runs, failures))
    print('# molt-tests: %d passed, %d failed' % (failures == 0, failures != 0))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
