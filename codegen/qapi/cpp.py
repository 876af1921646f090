"""How schema entities are spelled in C++: the one place for that.

Every generated identifier comes from here, so the mapping is the same
in every output: types keep their (c_name'd) schema names in namespace
molt::api and are always written fully qualified; members, branches
and argument names go through names.cpp_name(); commands become
qmp_<name> handlers; events become emit_<name> functions.
"""

from __future__ import annotations

from typing import List, Optional

from .layout import Layout
from .model import (AlternateType, ArrayType, BuiltinType, Command,
                    EnumType, Event, IfCond, ObjectMember, ObjectType, Type)
from .names import c_name, cpp_name

NS = '::molt::api::'

_SPECIAL_BITS = {'deprecated': '::molt::kFeatureDeprecated',
                 'unstable': '::molt::kFeatureUnstable'}


class Cpp:
    """C++ spelling of schema entities, given the type layout."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @staticmethod
    def type_name(typ: Type) -> str:
        """Unqualified name of a named type (struct, union, alternate,
        enum)."""
        return c_name(typ.name, protect=False)

    def type(self, typ: Type) -> str:
        """The C++ type holding a value of schema type typ."""
        if isinstance(typ, BuiltinType):
            return typ.cpp_type
        if isinstance(typ, ArrayType):
            return 'std::vector<%s>' % self.type(typ.element_type)
        return NS + self.type_name(typ)

    def member_type(self, m: ObjectMember) -> str:
        """Declared type of a struct member or union branch."""
        t = self.type(m.type)
        if self.layout.is_boxed(m):
            t = '::molt::Box<%s>' % t
        if m.optional:
            t = 'std::optional<%s>' % t
        return t

    def boxed(self, m: ObjectMember) -> bool:
        return self.layout.is_boxed(m)

    def needs_initializer(self, m: ObjectMember) -> bool:
        """Does the member need `{}` to be value-initialised?  Not the
        class types (optional, Box, vector): GCC would instantiate a
        vector's destructor for the initialiser while its element type
        may still be incomplete."""
        return not (m.optional or self.boxed(m)
                    or isinstance(m.type, ArrayType))

    @staticmethod
    def member(m: ObjectMember) -> str:
        return cpp_name(m.name)

    @staticmethod
    def enumerator(typ: EnumType, value: str) -> str:
        for m in typ.members:
            if m.name == value:
                return NS + c_name(typ.name, protect=False) + '::' + \
                    m.enumerator
        raise KeyError(value)

    @staticmethod
    def handler(cmd: Command) -> str:
        return 'qmp_' + cpp_name(cmd.name).rstrip('_')

    @staticmethod
    def marshaller(cmd: Command) -> str:
        return 'marshal_' + cpp_name(cmd.name).rstrip('_')

    @staticmethod
    def emitter(event: Event) -> str:
        return 'emit_' + cpp_name(event.name.lower()).rstrip('_')

    @staticmethod
    def event_enumerator(event: Event) -> str:
        return ''.join(p.capitalize() for p in
                       c_name(event.name, protect=False).split('_') if p)

    def param_type(self, m: ObjectMember) -> str:
        """A handler/emitter parameter: small scalars by value, the rest
        by const reference."""
        t = self.member_type(m)
        if self.passed_by_value(m):
            return t
        return 'const %s&' % t

    @staticmethod
    def passed_by_value(m: ObjectMember) -> bool:
        typ = m.type
        return (isinstance(typ, EnumType) or
                (isinstance(typ, BuiltinType)
                 and typ.name not in ('str', 'any')))

    def ret_type(self, cmd: Command) -> str:
        return self.type(cmd.ret_type) if cmd.ret_type else 'void'

    @staticmethod
    def special_bits(features: list) -> str:  # type: ignore[type-arg]
        bits = [_SPECIAL_BITS[f.name] for f in features if f.is_special()]
        return ' | '.join(bits) if bits else '0'

    @staticmethod
    def cond(ifcond: Optional[IfCond]) -> str:
        return ifcond.cgen() if ifcond and ifcond.is_present() else ''

    @staticmethod
    def string(text: str) -> str:
        """A C++ string literal (schema names are printable ASCII)."""
        return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'

    @staticmethod
    def comment(text: str, indent: str = '') -> List[str]:
        return [indent + ('// ' + line).rstrip()
                for line in text.strip().splitlines()]

    @staticmethod
    def is_object(typ: Type) -> bool:
        return isinstance(typ, ObjectType)

    @staticmethod
    def is_alternate(typ: Type) -> bool:
        return isinstance(typ, AlternateType)

    def literal(self, value: object, typ: Type) -> str:
        """A C++ expression of the given schema type for a constraint bound
        or a default value."""
        if isinstance(typ, ArrayType):
            assert value == []
            return self.type(typ) + '{}'
        if isinstance(typ, EnumType):
            assert isinstance(value, str)
            return self.enumerator(typ, value)
        if typ.name == 'bool':
            return 'true' if value else 'false'
        if typ.name == 'str':
            assert isinstance(value, str)
            return 'std::string(%s)' % self.string(value)
        if typ.name == 'number':
            assert isinstance(value, (int, float))
            text = repr(float(value))
            return text if ('.' in text or 'e' in text) else text + '.0'
        assert isinstance(value, int)
        if typ.name in ('uint64', 'size'):
            return 'UINT64_C(%d)' % value
        if typ.name == 'uint32':
            return '%du' % value
        if value == -2**63:
            return 'INT64_MIN'
        if not -2**31 <= value < 2**31:
            return 'INT64_C(%d)' % value
        return str(value)

    # --- the generated and runtime functions of each type ----------------
    # Calls are always by name, never by overload (see runtime/visit.h).

    def fn(self, kind: str, typ: Type) -> str:
        """The function `kind` (visit_in, visit_out, validate, ...) of
        values of a non-array type."""
        if isinstance(typ, BuiltinType):
            return '::molt::%s_%s' % (kind, typ.name)
        if isinstance(typ, EnumType):
            return '::molt::%s_enum<%s>' % (kind, self.type(typ))
        return '%s%s_%s' % (NS, kind, self.type_name(typ))

    def read(self, typ: Type, src: str, dst: str) -> str:
        """A call reading JSON value src into the lvalue dst."""
        if isinstance(typ, ArrayType):
            return '::molt::visit_in_list(in, %s, %s, &%s)' % (
                src, dst, self.fn('visit_in', typ.element_type))
        return '%s(in, %s, %s)' % (self.fn('visit_in', typ), src, dst)

    def write(self, typ: Type, expr: str) -> str:
        """A statement writing the value expr."""
        if isinstance(typ, ArrayType):
            return '::molt::visit_out_list(out, %s, &%s);' % (
                expr, self.fn('visit_out', typ.element_type))
        return '%s(out, %s);' % (self.fn('visit_out', typ), expr)

    def validate_call(self, typ: Type, expr: str) -> str:
        if isinstance(typ, ArrayType):
            return '::molt::validate_list(path, %s, &%s)' % (
                expr, self.fn('validate', typ.element_type))
        return '%s(path, %s)' % (self.fn('validate', typ), expr)
