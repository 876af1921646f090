"""Back end: the keyval registry of named object types.

Whole schema: for every named struct and union, its schema name, a
parser from text (keyval, or JSON when the text starts with '{', as
QEMU's qobject_input_visitor_new_str) to the typed value re-serialised
as JSON, and a help table (member, type, default, valid values, first
sentence of its documentation) for `help` requests.  molt-keyval and
the command line use it to parse any type by name.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from .backend import Backend
from .model import (AlternateType, ArrayType, EnumType, ObjectMember,
                    ObjectType, Type)


class KeyvalBackend(Backend):

    def named_objects(self) -> List[ObjectType]:
        return [t for mod in self.modules() for t in self.complex_types(mod)
                if isinstance(t, ObjectType) and not t.is_implicit()]

    @staticmethod
    def type_text(typ: Type) -> str:
        if isinstance(typ, ArrayType):
            return 'list of ' + KeyvalBackend.type_text(typ.element_type)
        if isinstance(typ, EnumType):
            return '|'.join(m.name for m in typ.members)
        return typ.name

    @staticmethod
    def summary(m: ObjectMember) -> str:
        text = m.doc.prose() if m.doc else ''
        text = ' '.join(text.split())
        first = re.split(r'(?<=\.)\s', text, maxsplit=1)[0]
        return first

    def help_rows(self, t: ObjectType) -> List[Tuple[ObjectMember, str]]:
        """(member, condition) rows: base and own members, then each
        union branch's members with 'when TAG=VALUE'."""
        assert t.members is not None
        rows = [(m, '') for m in t.members]
        if t.variants:
            assert t.variants.tag_member
            tag = t.variants.tag_member.name
            for v in self.branches(t):
                assert isinstance(v.type, ObjectType)
                assert v.type.members is not None
                rows += [(m, '%s=%s' % (tag, v.name)) for m in v.type.members]
        return rows

    def extra(self, m: ObjectMember) -> str:
        """Default and valid values of a member, for help."""
        c = m.constraints
        parts = []
        if not c.is_empty():
            parts.append('expects ' + c.describe(m.type))
        if c.has_default:
            d = c.default
            parts.append('default ' + (
                ('on' if d else 'off') if isinstance(d, bool) else
                '[]' if isinstance(d, list) else str(d)))
        return '; '.join(parts)

    @staticmethod
    def is_alternate(t: Optional[Type]) -> bool:
        return isinstance(t, AlternateType)

    def generate(self) -> None:
        self.run()
        header = self.gen.schema_file('qapi-keyval', '.h')
        includes = [self.gen.module_file('qapi-visit', m.name, '.h')
                    for m in self.modules()]
        self.gen.render(header, 'keyval.h.j2', b=self, cpp=self.cpp)
        self.gen.render(self.gen.schema_file('qapi-keyval', '.cpp'),
                        'keyval.cpp.j2', b=self, cpp=self.cpp, header=header,
                        includes=includes)
