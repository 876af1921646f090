"""Command line of the generator: qapi-gen.py -o DIR [-p PREFIX] SCHEMA.

Parses and checks the schema, runs every back end, and writes the
outputs (only those whose text changed).  Any SchemaError is printed as
a QEMU-style diagnostic on stderr and the exit status is 1; nothing
else escapes as a traceback.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import traceback
from typing import TYPE_CHECKING, Callable, List, Optional

from .model import Schema
from .source import SchemaError

if TYPE_CHECKING:
    from .gen import Generator


def generate(schema_file: str, outdir: str, prefix: str,
             expect: Optional[List[str]], unmask: bool) -> None:
    try:
        schema = Schema(schema_file)
    except OSError as err:
        if err.filename != schema_file:
            raise
        raise SchemaError(None, "can't read schema file '%s': %s"
                          % (schema_file, err.strerror)) from err
    # The back ends and Jinja2 load only for a valid schema: a
    # diagnostic comes faster (the golden tests run hundreds).
    from .gen import Generator
    from .layout import Layout
    layout = Layout(schema)
    gen = Generator(outdir, prefix, schema.main_module.name, schema_file)
    # Back ends, one per output kind (imported here: each pulls Jinja2).
    from .commands import CommandsBackend
    from .doc_md import DocBackend
    from .events import EventsBackend
    from .introspect import IntrospectBackend
    from .keyval import KeyvalBackend
    from .types import TypesBackend
    from .validate import ValidateBackend
    from .visit import VisitBackend
    # Two groups of about equal cost on a schema of QEMU's size.
    group_a: List[Callable[[], None]] = [
        TypesBackend(gen, schema, layout).generate,
        ValidateBackend(gen, schema, layout).generate,
        CommandsBackend(gen, schema, layout).generate,
        EventsBackend(gen, schema, layout).generate,
        IntrospectBackend(gen, schema, layout, unmask).generate]
    group_b: List[Callable[[], None]] = [
        VisitBackend(gen, schema, layout).generate,
        KeyvalBackend(gen, schema, layout).generate,
        DocBackend(gen, schema, layout).generate]
    _render(gen, group_a, group_b)
    gen.write(expect)


def _render(gen: Generator, group_a: List[Callable[[], None]],
            group_b: List[Callable[[], None]]) -> None:
    """Runs both groups of back ends into gen.outputs: group_b in a
    forked child when a second CPU is there (the model is shared by the
    fork; only the rendered texts come back, through a pipe), so a large
    schema generates in about half the time.  Output does not depend on
    which way it ran: the files are written sorted by name."""
    if not hasattr(os, 'fork') or len(os.sched_getaffinity(0)) < 2:
        for step in group_a + group_b:
            step()
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_fd)
            for step in group_b:
                step()
            with os.fdopen(write_fd, 'wb') as fp:
                pickle.dump(gen.outputs, fp)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write_fd)
    for step in group_a:
        step()
    with os.fdopen(read_fd, 'rb') as fp:
        data = fp.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError('a back end failed in the child process')
    gen.outputs.update(pickle.loads(data))


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(
        prog='qapi-gen.py',
        description='Generate C++ code and a manual from a QAPI schema.')
    ap.add_argument('-o', '--output-dir', default='.', metavar='DIR',
                    help='write the output files to DIR')
    ap.add_argument('-p', '--prefix', default='',
                    help='prefix of every output file name')
    ap.add_argument('-b', '--builtins', action='store_true',
                    help='accepted for QEMU compatibility (always on)')
    ap.add_argument('-u', '--unmask-non-abi-names', action='store_true',
                    dest='unmask', help='keep real type names in '
                    'introspection data (for debugging)')
    ap.add_argument('--expect', metavar='NAMES',
                    help='comma-separated output file names; fail if the '
                    'generator would write a different set')
    ap.add_argument('schema', help='the main schema file')
    args = ap.parse_args(argv)

    if not re.fullmatch(r'([A-Za-z_.-][A-Za-z0-9_.-]*)?', args.prefix):
        bad = re.sub(r'[A-Za-z0-9_.-]', '', args.prefix)[:1] or \
            args.prefix[:1]
        print("qapi-gen.py: funny character '%s' in argument of --prefix"
              % bad, file=sys.stderr)
        return 1
    expect = args.expect.split(',') if args.expect else None
    try:
        generate(args.schema, args.output_dir, args.prefix, expect,
                 args.unmask)
    except SchemaError as err:
        print(err, file=sys.stderr)
        return 1
    except OSError as err:
        print('qapi-gen.py: %s: %s' % (err.filename, err.strerror),
              file=sys.stderr)
        return 1
    return 0
