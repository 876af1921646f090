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
from .model import (AlternateType, ArrayType, EnumType, IfCond,
                    ObjectMember, ObjectType, Type)


class KeyvalBackend(Backend):

    def named_objects(self) -> List[ObjectType]:
        return [t for mod in self.modules() for t in self.complex_types(mod)
                if isinstance(t, ObjectType) and not t.is_implicit()]

    @staticmethod
    def type_text(typ: Type) -> str:
        """The member's type for help; an enum's values are not spelled
        here but read from its string table (enum_values), which has
        exactly the values whose conditions hold."""
        if isinstance(typ, ArrayType):
            return 'list of ' + KeyvalBackend.type_text(typ.element_type)
        if isinstance(typ, EnumType):
            return ''
        return typ.name

    def enum_values(self, typ: Type) -> str:
        if isinstance(typ, ArrayType):
            typ = typ.element_type
        if isinstance(typ, EnumType):
            return '&::molt::enum_lookup_of<%s>' % self.cpp.type(typ)
        return 'nullptr'

    @staticmethod
    def summary(m: ObjectMember) -> str:
        text = m.doc.prose() if m.doc else ''
        text = ' '.join(text.split())
        # '@name' is doc markup for a member or type name: plain in help.
        text = re.sub(r'@([A-Za-z0-9_.-]*[A-Za-z0-9_])', r'\1', text)
        first = re.split(r'(?<=\.)\s', text, maxsplit=1)[0]
        return first

    def help_rows(self, t: ObjectType, when: str = '',
                  ifcond: Optional[IfCond] = None
                  ) -> List[Tuple[ObjectMember, str, IfCond]]:
        """(member, 'when' text, condition) rows: base and own members,
        then each union branch's members with 'TAG=VALUE' (a branch that
        is a union adds its own branches, 'TAG=VALUE, TAG2=VALUE2').  A
        row exists when its member's and its branches' conditions hold."""
        assert t.members is not None
        cond = ifcond or IfCond()
        rows = [(m, when, cond.both(m.ifcond)) for m in t.members]
        if t.variants:
            assert t.variants.tag_member
            tag = t.variants.tag_member.name
            for v in self.branches(t):
                assert isinstance(v.type, ObjectType)
                branch = '%s=%s' % (tag, v.name)
                rows += self.help_rows(
                    v.type, when + ', ' + branch if when else branch,
                    cond.both(v.ifcond))
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
