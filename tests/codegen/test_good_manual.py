#!/usr/bin/env python3
"""The manual (doc_md back end) of the good test schema.

tests/codegen/good/qapi-schema-test.json documents every definition;
this checks that its generated Markdown manual shows what the schema
says: every definition, including those whose 'if' is false, with the
condition spelled out wherever one applies (definitions, members, enum
values, union branches, alternate branches, features), validation
annotations as "Valid:"/"Default:" notes and never as [[...]], @name
references as code, examples as code blocks.

Usage: test_good_manual.py MANUAL
Prints "# molt-tests: N passed, N failed".
"""

import re
import sys
from typing import Callable, List, Tuple


def main(argv: List[str]) -> int:
    with open(argv[1], encoding='utf-8') as fp:
        doc = fp.read()
    lines = doc.splitlines()

    def line_with(*parts: str) -> bool:
        return any(all(p in line for p in parts) for line in lines)

    checks: List[Tuple[str, Callable[[], bool]]] = [
        ('every definition has a heading, if-false ones too',
         lambda: all('### `%s`' % n in doc for n in (
             'TestEnum', 'TestIfOffEnum', 'TestIfOffStruct', 'TestIfOffUnion',
             'SubIfOff', 'test-if-off', 'TEST_EVENT_IF_OFF', 'TestLegacyNames',
             'TestAltConditional', 'test_legacy_command', 'TEST_SUB_EVENT'))),
        ('headings of the free-form blocks',
         lambda: '# molt generator test schema' in lines
         and '## Definitions of an included module' in lines),
        ('a definition condition is spelled out',
         lambda: '*Only if `(TEST_IF_ON and not TEST_IF_OFF)`.*' in lines),
        ('a member condition is spelled out',
         lambda: line_with('`if-any-off`',
                           'Only if `(TEST_IF_OFF or not TEST_IF_ON)`.')),
        ('an enum value condition is spelled out',
         lambda: line_with('`value-if-off`', 'Only if `TEST_IF_OFF`.')),
        ('a union branch condition is spelled out',
         lambda: line_with('- `zeta`:', 'Only if `TEST_IF_OFF`.')
         and line_with('- `beta`:', 'Only if `TEST_IF_ON`.')),
        ('an alternate branch condition is spelled out',
         lambda: line_with('| `count` | int |', 'Only if `TEST_IF_OFF`.')),
        ('a feature condition is spelled out',
         lambda: line_with('- `feature-if-off`:', 'Only if `TEST_IF_OFF`.')
         and line_with('`custom`', 'feature-if-off (only if `TEST_IF_OFF`)')),
        ('annotations become notes',
         lambda: line_with('`block`', 'Valid: a power of two between 512 '
                           'and 65536.')
         and line_with('`retries`', 'Default: `3`.')
         and line_with('`port`', 'Valid: a port number above 1023.')),
        ('no annotation is shown raw',
         lambda: not re.search(r'\[\[(range|length|non-empty|one-of|default|'
                               r'power-of-2|expects|check)', doc)),
        ('@name at the end of a sentence loses only the @',
         lambda: '`min` must not exceed `max`.' in doc),
        ('a downstream name keeps its dots',
         lambda: '`__com.example_member`' in doc),
        ('examples are code blocks',
         lambda: '```\n-> { "execute": "test-command"' in doc),
        ('union members and branches',
         lambda: 'Depending on `kind`, also the members of:' in lines),
        ('boxed arguments refer to their type',
         lambda: line_with('Arguments: The members of',
                           '[TestFlatUnion](#def-testflatunion)')),
    ]
    failed = 0
    for name, check in checks:
        ok = check()
        failed += not ok
        print('%s: %s' % ('ok' if ok else 'FAIL', name))
    print('# molt-tests: %d passed, %d failed'
          % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
