#!/usr/bin/env python3
"""Writes a synthetic QAPI schema of QEMU's size, for the generator's
scale test and benchmark.

Deterministic for a given --seed and --modules: a main file including N
module files which together hold ~220 commands, ~50 events, ~420
structs, ~40 unions, ~6 alternates, ~155 enums and ~110 definitions or
members with 'if' conditions, each documented the way QEMU's schema is,
so the whole is over 20,000 lines.  It uses the language broadly:
bases, flat unions with inline and named bases, a union inside a
union, alternates with struct and enum branches, lists, optional
members, features (deprecated/unstable and custom), recursive types,
x- and downstream names, boxed commands, 'gen': false, allow-oob.

Usage: gen_large_schema.py OUTDIR [--modules N] [--seed S]
Writes OUTDIR/large.json and OUTDIR/mod0.json ... mod<N-1>.json.
"""

import argparse
import os
import random
from typing import List

WORDS = ('block memory migration device network cpu machine guest host '
         'socket stream image node cache buffer queue channel vector '
         'region backend frontend option status event state table entry '
         'limit rate size count timer clock port range group policy '
         'target source filter rule job task record').split()

BUILTINS = ['str', 'int', 'bool', 'uint8', 'uint16', 'uint32', 'uint64',
            'int8', 'int32', 'int64', 'size', 'number', 'any']


class Gen:
    def __init__(self, seed: int, modules: int) -> None:
        self.rnd = random.Random(seed)
        self.modules = modules
        self.out: List[List[str]] = [[] for _ in range(modules)]
        self.enums: List[str] = []
        self.enum_values = {}
        self.structs: List[str] = []
        self.used_names = set()
        self.conds = 0

    def word(self) -> str:
        return self.rnd.choice(WORDS)

    def camel(self, prefix: str) -> str:
        while True:
            name = prefix + ''.join(self.word().capitalize()
                                    for _ in range(2))
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def lower(self, n: int = 2) -> str:
        return '-'.join(self.word() for _ in range(n))

    def cond(self) -> str:
        self.conds += 1
        c = self.rnd.choice(['CONFIG_A', 'CONFIG_B', 'CONFIG_LINUX'])
        if self.rnd.random() < 0.3:
            return "{ 'all': [ '%s', 'CONFIG_C' ] }" % c
        if self.rnd.random() < 0.2:
            return "{ 'not': '%s' }" % c
        return "'%s'" % c

    def doc(self, mod: int, symbol: str, members: List[str],
            features: List[str] = ()) -> None:
        o = self.out[mod]
        o.append('##')
        o.append('# @%s:' % symbol)
        o.append('#')
        for _ in range(self.rnd.randint(1, 3)):
            o.append('# The %s of the %s, as seen by the %s.  It is kept'
                     % (self.word(), self.word(), self.word()))
            o.append('# until the %s changes.' % self.word())
        o.append('#')
        for m in members:
            o.append('# @%s: The %s %s of the %s.' % (m, self.word(),
                                                      self.word(),
                                                      self.word()))
            if self.rnd.random() < 0.5:
                o.append('#     Set when the %s is %s.' % (self.word(),
                                                           self.word()))
            o.append('#')
        if features:
            o.append('# Features:')
            o.append('#')
            for f in features:
                o.append('# @%s: This is %s.' % (f, self.word()))
                o.append('#')
        o.append('# Since: 1.%d' % self.rnd.randint(0, 30))
        o.append('##')

    def member_type(self) -> str:
        r = self.rnd.random()
        if r < 0.55 or not self.structs:
            t = self.rnd.choice(BUILTINS)
        elif r < 0.75 and self.enums:
            t = self.rnd.choice(self.enums)
        else:
            t = self.rnd.choice(self.structs[-60:])
        if self.rnd.random() < 0.15:
            return "[ '%s' ]" % t
        return "'%s'" % t

    def members(self, n: int, allow_cond: bool = True):
        """Members; their features are collected in member_features."""
        self.member_features = set()
        names = []
        lines = []
        for _ in range(n):
            name = self.lower(self.rnd.randint(1, 3))
            if name in names or name.startswith('has-') or name == 'u':
                continue
            if self.rnd.random() < 0.03:
                name = 'x-' + name
            names.append(name)
            opt = '*' if self.rnd.random() < 0.5 else ''
            t = self.member_type()
            extras = []
            if allow_cond and self.rnd.random() < 0.02:
                extras.append("'if': %s" % self.cond())
            if self.rnd.random() < 0.02:
                extras.append("'features': [ 'deprecated' ]")
                self.member_features.add('deprecated')
            if extras:
                lines.append("'%s%s': { 'type': %s, %s }"
                             % (opt, name, t, ', '.join(extras)))
            else:
                lines.append("'%s%s': %s" % (opt, name, t))
        return names, lines

    def emit(self, mod: int, head: str, body: List[str], tail: str) -> None:
        o = self.out[mod]
        o.append(head)
        for i, line in enumerate(body):
            o.append('    ' + line + (',' if i < len(body) - 1 else ''))
        o.append(tail)
        o.append('')

    def enum(self, mod: int) -> None:
        name = self.camel('')
        values = []
        while len(values) < self.rnd.randint(2, 12):
            v = self.lower(self.rnd.randint(1, 2))
            if v not in values:
                values.append(v)
        self.doc(mod, name, values)
        items = []
        for v in values:
            if self.rnd.random() < 0.05:
                items.append("{ 'name': '%s', 'if': %s }" % (v, self.cond()))
            else:
                items.append("'%s'" % v)
        self.emit(mod, "{ 'enum': '%s'," % name, ["'data': [ " +
                  ', '.join(items) + ' ]'], '}')
        self.enums.append(name)
        self.enum_values[name] = values

    def struct(self, mod: int) -> None:
        name = self.camel('')
        base = None
        if self.structs and self.rnd.random() < 0.15:
            base = self.rnd.choice(self.structs[-40:])
            if base not in self.bases_ok or base in self.derived:
                base = None
        names, lines = self.members(self.rnd.randint(2, 12))
        if base:    # own members get a prefix, so none clashes with the base
            names = ['own-' + n for n in names]
            lines = [line.replace("'*", "'*own-", 1) if line.startswith("'*")
                     else line.replace("'", "'own-", 1) for line in lines]
            self.derived.add(name)
        feats = ['unstable-api'] if self.rnd.random() < 0.05 else []
        self.doc(mod, name, names, feats + sorted(self.member_features))
        head = "{ 'struct': '%s'," % name
        body = []
        if base:
            body.append("'base': '%s'" % base)
        body.append("'data': { " + ',\n      '.join(lines) + ' }')
        if feats:
            body.append("'features': [ 'unstable-api' ]")
        conditional = self.rnd.random() < 0.04
        if conditional:
            body.append("'if': %s" % self.cond())
        self.emit(mod, head, body, '}')
        if not conditional:     # only unconditional types are referenced
            self.structs.append(name)

    def union(self, mod: int) -> None:
        enum = self.rnd.choice(self.enums)
        name = self.camel('')
        values = self.enum_values[enum]
        branches = []
        for v in values:
            if self.rnd.random() < 0.7:
                bname = self.camel('Branch')
                bnames, blines = self.members(self.rnd.randint(1, 5))
                bnames = ['b-' + n for n in bnames]
                blines = [line.replace("'", "'b-", 1) if not
                          line.startswith("'*") else
                          line.replace("'*", "'*b-", 1) for line in blines]
                self.doc(mod, bname, bnames, sorted(self.member_features))
                self.emit(mod, "{ 'struct': '%s'," % bname,
                          ["'data': { " + ', '.join(blines) + ' }'], '}')
                branches.append("'%s': '%s'" % (v, bname))
        self.doc(mod, name, ['kind', 'common-name'])
        self.emit(mod, "{ 'union': '%s'," % name,
                  ["'base': { 'kind': '%s', '*common-name': 'str' }" % enum,
                   "'discriminator': 'kind'",
                   "'data': { " + ', '.join(branches) + ' }'], '}')
        self.structs.append(name)
        self.bases_ok.discard(name)

    def alternate(self, mod: int) -> None:
        name = self.camel('Alt')
        s = self.rnd.choice([x for x in self.structs if x in self.bases_ok])
        self.doc(mod, name, ['s', 'o', 'n'])
        self.emit(mod, "{ 'alternate': '%s'," % name,
                  ["'data': { 's': 'str', 'o': '%s', 'n': 'null' }" % s],
                  '}')
        self.alternates.append(name)

    def command(self, mod: int, i: int) -> None:
        name = 'query-' + self.lower(2) + '-%d' % i
        names, lines = self.members(self.rnd.randint(0, 6), allow_cond=False)
        feats = sorted(self.member_features)
        deprecated = self.rnd.random() < 0.05
        if deprecated and 'deprecated' not in feats:
            feats.append('deprecated')
        self.doc(mod, name, names, feats)
        body = []
        if lines:
            body.append("'data': { " + ', '.join(lines) + ' }')
        r = self.rnd.random()
        if r < 0.6 and self.structs:
            body.append("'returns': '%s'" % self.rnd.choice(
                [x for x in self.structs if x in self.bases_ok]))
        elif r < 0.8 and self.structs:
            body.append("'returns': [ '%s' ]" % self.rnd.choice(self.structs))
        if self.rnd.random() < 0.05:
            body.append("'allow-oob': true")
        if deprecated:
            body.append("'features': [ 'deprecated' ]")
        if self.rnd.random() < 0.05:
            body.append("'if': %s" % self.cond())
        if self.rnd.random() < 0.3:
            body.append("'allow-preconfig': true")
        self.emit(mod, "{ 'command': '%s'%s" % (name, ',' if body else ''),
                  body, '}')

    def event(self, mod: int, i: int) -> None:
        name = '_'.join(self.word().upper() for _ in range(2)) + '_%d' % i
        names, lines = self.members(self.rnd.randint(0, 4), allow_cond=False)
        self.doc(mod, name, names, sorted(self.member_features))
        body = []
        if lines:
            body.append("'data': { " + ', '.join(lines) + ' }')
        self.emit(mod, "{ 'event': '%s'%s" % (name, ',' if body else ''),
                  body, '}')

    def fixed(self, mod: int) -> None:
        """Hand-written corner cases, once."""
        self.out[mod].append('''
##
# @Tree:
#
# A recursive type.
#
# @value: The value.
#
# @left: The left subtree.
#
# @right: The right subtree.
#
# @children: More subtrees.
#
# Since: 1.0
##
{ 'struct': 'Tree',
  'data': { 'value': 'int', '*left': 'Tree', '*right': 'Tree',
            '*children': [ 'Tree' ] } }

##
# @__org.example_Downstream:
#
# A downstream extension.
#
# @__org.example_member: Its member.
#
# Since: 1.0
##
{ 'struct': '__org.example_Downstream',
  'data': { '__org.example_member': 'str' } }

##
# @NestedKind:
#
# Kinds.
#
# @inner: The inner one.
#
# @plain: The plain one.
#
# Since: 1.0
##
{ 'enum': 'NestedKind', 'data': [ 'inner', 'plain' ] }

##
# @NestedInner:
#
# A union used as a branch.
#
# @kind: The kind.
#
# Since: 1.0
##
{ 'union': 'NestedInner',
  'base': { 'kind': 'NestedKind' },
  'discriminator': 'kind',
  'data': { 'inner': 'Tree' } }

##
# @NestedOuter:
#
# A union with a union branch.
#
# @outer: Selects the branch.
#
# Since: 1.0
##
{ 'union': 'NestedOuter',
  'base': { 'outer': 'NestedKind' },
  'discriminator': 'outer',
  'data': { 'inner': 'NestedInner' } }

##
# @query-tree:
#
# Returns: A tree.
#
# Since: 1.0
##
{ 'command': 'query-tree', 'data': 'NestedOuter', 'boxed': true,
  'returns': 'Tree' }

##
# @query-manual:
#
# A command without generated marshaller.
#
# Since: 1.0
##
{ 'command': 'query-manual', 'gen': false }
''')

    def run(self) -> None:
        self.bases_ok = set()
        self.derived = set()
        self.alternates: List[str] = []
        counts = dict(enum=155, struct=360, union=39, alternate=6,
                      command=218, event=52)
        plan = (['enum'] * 40 + ['struct'] * 60)
        rest = []
        for kind, n in counts.items():
            rest += [kind] * n
        for kind in plan:
            rest.remove(kind)
        self.rnd.shuffle(rest)
        # Types first (enums and structs before unions and alternates
        # need them), commands and events after, spread over modules.
        kinds = ['enum', 'struct', 'union', 'alternate', 'command', 'event']
        order = plan + sorted(rest, key=kinds.index)
        n = len(order)
        ci = ei = 0
        for i, kind in enumerate(order):
            mod = min(i * self.modules // n, self.modules - 1)
            if kind == 'enum':
                self.enum(mod)
            elif kind == 'struct':
                self.struct(mod)
                if self.structs:
                    self.bases_ok.add(self.structs[-1])
            elif kind == 'union':
                self.union(mod)
            elif kind == 'alternate':
                self.alternate(mod)
            elif kind == 'command':
                self.command(mod, ci)
                ci += 1
            else:
                self.event(mod, ei)
                ei += 1
        self.fixed(self.modules - 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('outdir')
    ap.add_argument('--modules', type=int, default=20)
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()
    gen = Gen(args.seed, args.modules)
    gen.run()
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, 'large.json'), 'w') as fp:
        fp.write("# Synthetic schema (tests/tools/gen_large_schema.py).\n\n")
        fp.write("{ 'pragma': { 'doc-required': true } }\n\n")
        for i in range(args.modules):
            fp.write("{ 'include': 'mod%d.json' }\n" % i)
    for i, lines in enumerate(gen.out):
        with open(os.path.join(args.outdir, 'mod%d.json' % i), 'w') as fp:
            fp.write('# Synthetic schema module %d.\n\n' % i)
            fp.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
