"""Back end: validators and defaults from the schema's annotations.

Per object type T the module's validate header declares
  check_members(path, T)   the constraints of T's own members (with its
                           base's and its selected branch's), then the
                           handwritten check_rules() if T says [[check]];
  validate(path, T)        check_members plus every nested value, for
                           values built in C++;
and, when T has documented defaults, apply_defaults(T&), which fills
every absent optional member that has one (with its base's and its
selected branch's).  The input visitor calls check_members after
reading an object.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from .backend import Backend
from .constraints import INT_LIMITS
from .model import (AlternateType, ArrayType, Module, ObjectMember,
                    ObjectType, Type)


class ValidateBackend(Backend):

    def checks(self, m: ObjectMember) -> List[Tuple[str, str]]:
        """(failure condition on `x`, error description) pairs."""
        c = m.constraints
        if c.is_empty():
            return []
        typ = m.type
        desc = self.cpp.string(c.describe(typ))
        conds: List[str] = []
        if c.one_of:
            conds.append('!(%s)' % ' || '.join(
                'x == %s' % self.cpp.literal(v, typ) for v in c.one_of))
        lo, hi = INT_LIMITS.get(typ.name, (None, None))
        if c.range_min is not None and c.range_min != lo:
            conds.append('x < %s' % self.cpp.literal(c.range_min, typ))
        if c.range_max is not None and c.range_max != hi:
            conds.append('x > %s' % self.cpp.literal(c.range_max, typ))
        if c.power_of_2:
            conds.append('x <= 0 || (x & (x - 1)) != 0' if lo != 0
                         else 'x == 0 || (x & (x - 1)) != 0')
        if c.min_length is not None and c.min_length > 0:
            conds.append('x.size() < %du' % c.min_length)
        if c.max_length is not None:
            conds.append('x.size() > %du' % c.max_length)
        return [('(%s)' % ') || ('.join(conds), desc)] if conds else []

    def has_defaults(self, t: Optional[ObjectType]) -> bool:
        """Is there an apply_defaults(t): do t's own members, its base's
        or (for a union) a branch's members have a default?"""
        if t is None:
            return False
        if any(m.constraints.has_default and m.optional
               for m in t.local_members):
            return True
        return self.has_defaults(t.base) or bool(self.default_branches(t))

    def default_branches(self, t: ObjectType) -> List[ObjectMember]:
        """A union's branches whose members have defaults: a union's
        apply_defaults fills the selected one's too (its members are
        the union's, as on the wire)."""
        if not t.variants:
            return []
        return [v for v in self.branches(t)
                if isinstance(v.type, ObjectType)
                and self.has_defaults(v.type)]

    def defaults(self, t: ObjectType) -> List[Tuple[ObjectMember, str]]:
        return [(m, self.cpp.literal(m.constraints.default, m.type))
                for m in t.local_members
                if m.constraints.has_default and m.optional]

    @staticmethod
    def nested(m: ObjectMember) -> bool:
        """Does the member hold values with constraints of their own?"""
        typ: Type = m.type
        if isinstance(typ, ArrayType):
            typ = typ.element_type
        return isinstance(typ, (ObjectType, AlternateType))

    def present(self, m: ObjectMember) -> str:
        """Condition: the member has a value to validate."""
        return 'v.' + self.cpp.member(m) if m.optional else 'true'

    def value(self, m: ObjectMember) -> str:
        ref = 'v.' + self.cpp.member(m)
        if m.optional:
            ref = '*' + ref
        if self.cpp.boxed(m):
            ref = '*' + ref
        return ref

    def objects(self, module: Module) -> List[ObjectType]:
        return [t for t in self.complex_types(module)
                if isinstance(t, ObjectType)]

    def is_alternate(self, t: Type) -> bool:
        return isinstance(t, AlternateType)

    def source_includes(self, module: Module) -> List[str]:
        ents = self.entities(module)
        return ([self.gen.module_file('qapi-visit', module.name, '.h')] +
                self.foreign_modules(module, ents, 'qapi-validate') +
                self.foreign_modules(module, ents, 'qapi-visit'))

    def generate(self) -> None:
        self.run()
        for mod in self.modules():
            header = self.gen.module_file('qapi-validate', mod.name, '.h')
            ctx = dict(b=self, cpp=self.cpp, module=mod, header=header,
                       types_header=self.gen.module_file('qapi-types',
                                                         mod.name, '.h'))
            self.gen.render(header, 'validate.h.j2', **ctx)
            self.gen.render(self.gen.module_file('qapi-validate', mod.name,
                                                 '.cpp'),
                            'validate.cpp.j2', **ctx)
