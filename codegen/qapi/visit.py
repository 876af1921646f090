"""Back end: JSON/keyval input and JSON output visitors, per module.

For every struct, union, implicit object and alternate T the module's
visit header declares visit_in(Input&, const JsonValue&, T&) and
visit_out(Output&, const T&); objects also get *_members variants that
derived types and unions reuse.  Built-in types, enums, lists and boxes
are visited by templates in runtime/visit.h.  After reading an object,
visit_in runs its generated constraint checks (validate back end).
"""

from __future__ import annotations

from typing import List

from .backend import Backend
from .model import (AlternateType, BuiltinType, EnumType, Module,
                    ObjectMember, ObjectType, Type)

_KIND = {'string': 'String', 'number': 'Number', 'int': 'Number',
         'boolean': 'Bool', 'null': 'Null', 'object': 'Object',
         'array': 'Array', 'value': None}


class VisitBackend(Backend):

    @staticmethod
    def json_kind(typ: Type) -> str:
        kind = _KIND[typ.json_type()]
        assert kind
        return kind

    def member_ref(self, m: ObjectMember, obj: str = 'out') -> str:
        """An lvalue to read member m into (emplacing optional and boxed
        ones)."""
        ref = '%s.%s' % (obj, self.cpp.member(m))
        if m.optional:
            ref += '.emplace()'
        if self.cpp.boxed(m):
            ref += '.emplace()'
        return ref

    def member_val(self, m: ObjectMember, obj: str = 'v') -> str:
        """The value of a present member, unboxed."""
        ref = '%s.%s' % (obj, self.cpp.member(m))
        if m.optional:
            ref = '*' + ref
        if self.cpp.boxed(m):
            ref = '*' + ref
        return ref

    def out_conditions(self, m: ObjectMember) -> str:
        """When member m is written: present and not hidden by -compat."""
        conds = []
        if m.optional:
            conds.append('v.' + self.cpp.member(m))
        hidden = self.cpp.special_bits(m.features)
        if hidden != '0':
            conds.append('!out.hidden(%s)' % hidden)
        return ' && '.join(conds)

    def branch_in(self, br: ObjectMember) -> str:
        """The branch object to read a union branch's members into."""
        ref = 'out.u.' + self.cpp.member(br)
        return ref + '.emplace()' if self.cpp.boxed(br) else ref

    def source_includes(self, module: Module) -> List[str]:
        ents = self.entities(module)
        out = [self.gen.module_file('qapi-validate', module.name, '.h')]
        out += self.foreign_modules(module, ents, 'qapi-visit')
        return out

    def objects(self, module: Module) -> List[ObjectType]:
        return [t for t in self.complex_types(module)
                if isinstance(t, ObjectType)]

    def is_alternate(self, t: Type) -> bool:
        return isinstance(t, AlternateType)

    def is_scalar(self, t: Type) -> bool:
        return isinstance(t, (BuiltinType, EnumType))

    def generate(self) -> None:
        self.run()
        for mod in self.modules():
            header = self.gen.module_file('qapi-visit', mod.name, '.h')
            ctx = dict(b=self, cpp=self.cpp, module=mod, header=header,
                       types_header=self.gen.module_file('qapi-types',
                                                         mod.name, '.h'))
            self.gen.render(header, 'visit.h.j2', **ctx)
            self.gen.render(self.gen.module_file('qapi-visit', mod.name,
                                                 '.cpp'),
                            'visit.cpp.j2', **ctx)
