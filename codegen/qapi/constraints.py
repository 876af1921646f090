"""molt's schema extension: validation annotations in doc comments.

QEMU's schema syntax has no room for value constraints, but member
descriptions are free text, so constraints live there, in double
brackets, where the manual shows them too (docs/schema-extensions.md):

    # @multifd-channels: Number of parallel channels.
    #     [[range 1..255, default 2]]

Clauses: 'range A..B' (either bound may be left out), 'power-of-2',
'length A..B', 'non-empty', 'one-of V|V|...', 'default VALUE' and
'expects "TEXT"' (the error description, replacing the generated one).
A type's own doc may say [[check]]: its generated validator then also
calls a handwritten cross-member rule.  A schema QEMU accepts stays
acceptable: QEMU sees only prose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional, Set, Tuple, Union

from .doc import ANNOTATION as _ANNOTATION
from .source import SchemaError, SourceInfo

if TYPE_CHECKING:
    from .model import ObjectMember, Schema, Type

Number = Union[int, float]
DefaultValue = Union[int, float, bool, str, List[str]]

INT_LIMITS = {
    'int': (-2**63, 2**63 - 1), 'int64': (-2**63, 2**63 - 1),
    'int8': (-2**7, 2**7 - 1), 'int16': (-2**15, 2**15 - 1),
    'int32': (-2**31, 2**31 - 1),
    'uint8': (0, 2**8 - 1), 'uint16': (0, 2**16 - 1),
    'uint32': (0, 2**32 - 1), 'uint64': (0, 2**64 - 1),
    'size': (0, 2**64 - 1),
}

_SUFFIX = {'b': 0, 'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}
_NUMBER = re.compile(r'([-+]?(?:0x[0-9a-f]+'
                     r'|[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?))'
                     r'([bkmgtpe]?)$', re.I)


@dataclass
class Constraints:
    """What a member's value must satisfy, and its documented default."""
    range_min: Optional[Number] = None
    range_max: Optional[Number] = None
    power_of_2: bool = False
    min_length: Optional[int] = None
    max_length: Optional[int] = None
    one_of: List[Union[str, int]] = field(default_factory=list)
    default: Optional[DefaultValue] = None
    has_default: bool = False
    expects: Optional[str] = None

    def is_empty(self) -> bool:
        return (self.range_min is None and self.range_max is None
                and not self.power_of_2 and self.min_length is None
                and self.max_length is None and not self.one_of)

    def describe(self, typ: Type) -> str:
        """The DESCRIPTION of "Parameter 'X' expects DESCRIPTION"."""
        if self.expects:
            return self.expects
        parts = []
        if self.one_of:
            parts.append('one of ' + ', '.join(str(v) for v in self.one_of))
        lo, hi = self.range_min, self.range_max
        if lo is not None or hi is not None:
            tlo, thi = INT_LIMITS.get(typ.name, (None, None))
            lo = tlo if lo is None and tlo == 0 else lo
            what = 'a power of two' if self.power_of_2 else 'a value'
            if lo is not None and hi is not None:
                parts.append('%s between %s and %s' % (what, lo, hi))
            elif lo is not None:
                parts.append('%s no less than %s' % (what, lo))
            else:
                parts.append('%s no greater than %s' % (what, hi))
        elif self.power_of_2:
            parts.append('a power of two')
        if self.min_length is not None or self.max_length is not None:
            noun = 'string' if typ.name == 'str' else 'list'
            unit = 'characters' if typ.name == 'str' else 'elements'
            lo_len, hi_len = self.min_length, self.max_length
            if lo_len == 1 and hi_len is None:
                parts.append('a non-empty ' + noun)
            elif hi_len is None:
                parts.append('a %s of at least %d %s'
                             % (noun, lo_len or 0, unit))
            else:
                parts.append('a %s of %d to %d %s'
                             % (noun, lo_len or 0, hi_len, unit))
        return ' and '.join(parts)


@dataclass
class TypeRules:
    """Type-level annotations: a handwritten cross-member check."""
    check: bool = False


def parse_number(text: str, integral: bool) -> Optional[Number]:
    """An annotation number: decimal or 0x hex, optional binary suffix
    (k, M, G, T, P, E; case-insensitive); fractions only for 'number'
    or when a suffix makes the result whole."""
    m = _NUMBER.match(text.strip())
    if not m:
        return None
    digits, suffix = m.group(1), m.group(2).lower()
    try:
        if re.match(r'[-+]?0x', digits, re.I):
            value: Number = int(digits, 16)
        elif re.search(r'[.e]', digits, re.I):
            value = float(digits)
        else:
            value = int(digits)
    except ValueError:
        return None
    if suffix:
        value = value * (1 << _SUFFIX[suffix])
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if integral:
            if value != int(value):
                return None
            value = int(value)
    return value


def _split_clauses(text: str) -> List[str]:
    """Splits on commas outside double quotes."""
    out, cur, quoted = [], '', False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ',' and not quoted:
            out.append(cur.strip())
            cur = ''
        else:
            cur += ch
    out.append(cur.strip())
    return [c for c in out if c]


class _Reader:
    """Interprets the clauses of one member's annotations."""

    def __init__(self, member: ObjectMember, info: SourceInfo) -> None:
        self.member = member
        self.info = info
        self.c = member.constraints
        typ = member.type
        from .model import ArrayType, EnumType
        self.is_list = isinstance(typ, ArrayType)
        self.typ = typ
        self.is_int = typ.name in INT_LIMITS
        self.is_number = self.is_int or typ.name == 'number'
        self.is_str = typ.name == 'str'
        self.is_enum = isinstance(typ, EnumType)
        self.seen: Set[str] = set()
        self.default_text = ''

    def fail(self, msg: str) -> SchemaError:
        return SchemaError(self.info, "member '%s': %s"
                           % (self.member.name, msg))

    def number(self, text: str, what: str) -> Number:
        value = parse_number(text, integral=self.is_int)
        if value is None:
            raise self.fail("%s '%s' is not a valid %s"
                            % (what, text, self.typ.name))
        if self.is_int:
            lo, hi = INT_LIMITS[self.typ.name]
            if not lo <= value <= hi:
                raise self.fail("%s %s is out of range for %s"
                                % (what, text, self.typ.name))
        return value

    def length(self, text: str) -> int:
        value = parse_number(text, integral=True)
        if value is None or value < 0:
            raise self.fail("length '%s' is not a valid count" % text)
        return int(value)

    def bounds(self, arg: str, clause: str) -> Tuple[str, str]:
        if '..' not in arg:
            raise self.fail("'%s' needs LOW..HIGH" % clause)
        lo, hi = arg.split('..', 1)
        return lo.strip(), hi.strip()

    def clause(self, text: str) -> None:
        word, _, arg = text.partition(' ')
        arg = arg.strip()
        if word in self.seen:
            raise self.fail("'%s' given twice" % word)
        self.seen.add(word)
        if word == 'range':
            if not self.is_number:
                raise self.fail("'range' needs an integer, size or number "
                                "member")
            lo, hi = self.bounds(arg, word)
            self.c.range_min = self.number(lo, 'bound') if lo else None
            self.c.range_max = self.number(hi, 'bound') if hi else None
            if (self.c.range_min is not None and self.c.range_max is not None
                    and self.c.range_min > self.c.range_max):
                raise self.fail("empty range %s" % arg)
        elif word == 'power-of-2':
            if not self.is_int or arg:
                raise self.fail("'power-of-2' needs an integer or size "
                                "member and no argument")
            self.c.power_of_2 = True
        elif word in ('length', 'non-empty'):
            if not (self.is_str or self.is_list):
                raise self.fail("'%s' needs a str or list member" % word)
            if word == 'non-empty':
                if arg:
                    raise self.fail("'non-empty' takes no argument")
                self.c.min_length = 1
            else:
                lo, hi = self.bounds(arg, word)
                self.c.min_length = self.length(lo) if lo else None
                self.c.max_length = self.length(hi) if hi else None
        elif word == 'one-of':
            if not (self.is_int or self.is_str):
                raise self.fail("'one-of' needs an integer or str member")
            values = [v.strip() for v in arg.split('|') if v.strip()]
            if not values:
                raise self.fail("'one-of' needs values")
            self.c.one_of = [int(self.number(v, 'value')) if self.is_int
                             else v for v in values]
        elif word == 'default':
            self.c.default = self.default(arg)
            self.c.has_default = True
            self.default_text = arg
        elif word == 'expects':
            m = re.fullmatch(r'"([^"]+)"', arg)
            if not m:
                raise self.fail("'expects' needs a \"quoted text\"")
            self.c.expects = m.group(1)
        else:
            raise self.fail("unknown annotation '%s'" % word)

    def check_default(self) -> None:
        """The documented default must satisfy the member's own
        constraints (all clauses are read first: order is free)."""
        c, value = self.c, self.c.default
        if not c.has_default or value is None:
            return
        what = 'default ' + self.default_text
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            if ((c.range_min is not None and value < c.range_min)
                    or (c.range_max is not None and value > c.range_max)):
                raise self.fail("%s is out of range %s..%s" % (
                    what, '' if c.range_min is None else c.range_min,
                    '' if c.range_max is None else c.range_max))
            if c.power_of_2 and (value <= 0 or int(value) & int(value - 1)):
                raise self.fail("%s is not a power of two" % what)
        if c.one_of and value not in c.one_of:
            raise self.fail("%s is not one of %s"
                            % (what, '|'.join(str(v) for v in c.one_of)))
        if isinstance(value, (str, list)) and not self.is_enum:
            if ((c.min_length is not None and len(value) < c.min_length)
                    or (c.max_length is not None
                        and len(value) > c.max_length)):
                raise self.fail("%s is not of length %s..%s" % (
                    what, '' if c.min_length is None else c.min_length,
                    '' if c.max_length is None else c.max_length))

    def default(self, arg: str) -> DefaultValue:
        from .model import EnumType
        if not arg:
            raise self.fail("'default' needs a value")
        if self.is_list:
            if arg != '[]':
                raise self.fail("a list default can only be []")
            return []
        if self.typ.name == 'bool':
            if arg not in ('true', 'false', 'on', 'off'):
                raise self.fail("default '%s' is not a bool" % arg)
            return arg in ('true', 'on')
        if self.is_number:
            return self.number(arg, 'default')
        if self.is_str:
            m = re.fullmatch(r'"([^"]*)"', arg)
            return m.group(1) if m else arg
        if isinstance(self.typ, EnumType):
            if arg not in self.typ.member_names():
                raise self.fail("default '%s' is not a value of %s"
                                % (arg, self.typ.name))
            return arg
        raise self.fail("a default for type %s is not supported"
                        % self.typ.name)


def attach_constraints(schema: Schema) -> None:
    """Reads the annotations of every object member and type.

    Annotations anywhere else (enum values, alternate branches,
    features, a command's or event's own description, free-form blocks)
    would silently do nothing, so they are errors, and so is an
    unterminated one."""
    from .model import ObjectType
    used: Set[int] = set()      # ids of the sections read here
    for typ in schema.types():
        if not isinstance(typ, ObjectType):
            continue
        for m in typ.local_members:
            if not m.doc:
                continue
            used.add(id(m.doc))
            reader = _Reader(m, m.doc.info)
            for annotation in m.doc.annotations():
                for clause in _split_clauses(annotation):
                    reader.clause(clause)
            reader.check_default()
        if typ.doc and not typ.is_implicit():
            used.add(id(typ.doc.body))
            used.update(id(s) for s in typ.doc.sections)
            for annotation, info in typ.doc.type_annotations():
                for clause in _split_clauses(annotation):
                    if clause != 'check':
                        raise SchemaError(
                            info, "unknown type annotation '%s'" % clause)
                    typ.rules.check = True
    for doc in schema.docs:
        for sec in doc.all_sections():
            if '[[' not in sec.text:
                continue
            if '[[' in _ANNOTATION.sub('', sec.text):
                raise SchemaError(sec.info, "unterminated [[annotation]]")
            if id(sec) not in used and sec.annotations():
                where = ("'%s'" % sec.name if sec.name else
                         "the description of '%s'" % doc.symbol
                         if doc.symbol else 'free-form documentation')
                raise SchemaError(
                    sec.info, "annotation [[%s]] in %s has no effect"
                    % (sec.annotations()[0], where))
