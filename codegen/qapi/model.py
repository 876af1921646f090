"""Stage 3: the schema model.

Turns checked expressions into entities (types, commands, events,
modules), resolves every type reference, and runs the semantic checks
that need the whole schema: unknown types, bases, discriminators,
branches, alternate ambiguity, name clashes, recursion, return types,
documentation.  Implicit entities are made as QEMU makes them: array
types 'TList', command/event argument types 'q_obj_NAME-arg', inline
union bases 'q_obj_NAME-base', the empty object 'q_empty' and the
built-in enum 'QType'.  Back ends walk the result with a SchemaVisitor.
"""

from __future__ import annotations

import os
import re
from typing import (Callable, Dict, Iterator, List, Optional, Sequence,
                    Union, cast)

from .check import check_exprs
from .constraints import Constraints, TypeRules
from .doc import Doc, Section
from .names import c_name, camel_enumerators, cpp_name
from .parser import Expr, Parser, Value
from .source import SchemaError, SourceInfo


class IfCond:
    """An 'if' condition: a macro name, or {all|any|not: ...}."""

    def __init__(self, cond: Optional[Value] = None) -> None:
        self.cond = cond

    def is_present(self) -> bool:
        return self.cond is not None

    def cgen(self) -> str:
        """The condition as a C preprocessor expression."""
        return self._cgen(self.cond, top=True)

    @classmethod
    def _cgen(cls, cond: Optional[Value], top: bool = False) -> str:
        if isinstance(cond, str):
            return 'defined(%s)' % cond
        assert isinstance(cond, dict)
        if 'not' in cond:
            return '!' + cls._cgen(cond['not'])
        op = 'all' if 'all' in cond else 'any'
        operands = cond[op]
        assert isinstance(operands, list)
        parts = [cls._cgen(c) for c in operands]
        joined = (' && ' if op == 'all' else ' || ').join(parts)
        return joined if top or len(parts) == 1 else '(' + joined + ')'

    def both(self, other: IfCond) -> IfCond:
        """This condition and the other one."""
        if not other.is_present():
            return self
        if not self.is_present():
            return other
        return IfCond({'all': [self.cond, other.cond]})  # type: ignore

    def docgen(self) -> str:
        """The condition as prose for the manual."""
        return self._docgen(self.cond)

    @classmethod
    def _docgen(cls, cond: Optional[Value]) -> str:
        if isinstance(cond, str):
            return cond
        assert isinstance(cond, dict)
        if 'not' in cond:
            return 'not ' + cls._docgen(cond['not'])
        op = 'all' if 'all' in cond else 'any'
        operands = cond[op]
        assert isinstance(operands, list)
        sep = ' and ' if op == 'all' else ' or '
        return '(' + sep.join(cls._docgen(c) for c in operands) + ')'


# --- members -----------------------------------------------------------------

class Member:
    """Something named inside a definition."""
    role = 'member'

    def __init__(self, name: str, info: Optional[SourceInfo],
                 ifcond: Optional[IfCond] = None) -> None:
        self.name = name
        self.info = info
        self.ifcond = ifcond or IfCond()
        self.defined_in: Optional[str] = None
        self.doc: Optional[Section] = None

    @property
    def cpp_name(self) -> str:
        return cpp_name(self.name)

    def set_defined_in(self, name: str) -> None:
        assert not self.defined_in
        self.defined_in = name

    def check_clash(self, info: Optional[SourceInfo],
                    seen: Dict[str, Member]) -> None:
        cname = c_name(self.name)
        if cname in seen:
            raise SchemaError(info, "%s collides with %s" % (
                self.describe(info), seen[cname].describe(info)))
        seen[cname] = self

    def describe(self, info: Optional[SourceInfo]) -> str:
        role = self.role
        defined_in = self.defined_in
        assert defined_in
        if defined_in.startswith('q_obj_'):
            defined_in = defined_in[6:]
            if defined_in.endswith('-arg'):
                role = 'parameter'
            elif defined_in.endswith('-base'):
                role = 'base ' + role
        elif info is None or defined_in != info.defn_name:
            return "%s '%s' of type '%s'" % (role, self.name, defined_in)
        return "%s '%s'" % (role, self.name)


class Feature(Member):
    role = 'feature'

    def is_special(self) -> bool:
        return self.name in ('deprecated', 'unstable')


class EnumMember(Member):
    role = 'value'

    def __init__(self, name: str, info: Optional[SourceInfo],
                 ifcond: Optional[IfCond] = None,
                 features: Optional[List[Feature]] = None) -> None:
        super().__init__(name, info, ifcond)
        self.features = features or []
        for f in self.features:
            f.set_defined_in(name)
        self.enumerator = ''        # C++ enumerator, set by EnumType


class ObjectMember(Member):
    """A struct member, command argument or event datum."""

    def __init__(self, name: str, info: Optional[SourceInfo], typ: str,
                 optional: bool, ifcond: Optional[IfCond] = None,
                 features: Optional[List[Feature]] = None) -> None:
        super().__init__(name, info, ifcond)
        self.type_name = typ
        self.type: Type = cast('Type', None)
        self.optional = optional
        self.features = features or []
        # As in QEMU, a member's features are "defined in" the member
        # (diagnostics then say "feature 'f' of type 'member'").
        for f in self.features:
            f.set_defined_in(name)
        self.constraints = Constraints()

    def check(self, schema: Schema) -> None:
        assert self.defined_in
        self.type = schema.resolve_type(self.type_name, self.info,
                                        self.describe)
        seen: Dict[str, Member] = {}
        for f in self.features:
            f.check_clash(self.info, seen)


class Variant(ObjectMember):
    """A union or alternate branch."""
    role = 'branch'

    def __init__(self, name: str, info: Optional[SourceInfo], typ: str,
                 ifcond: Optional[IfCond] = None) -> None:
        super().__init__(name, info, typ, False, ifcond)


class Variants:
    """The branches of a union (tag_name set) or an alternate."""

    def __init__(self, tag_name: Optional[str], info: SourceInfo,
                 tag_member: Optional[ObjectMember],
                 variants: List[Variant]) -> None:
        self.tag_name = tag_name
        self.info = info
        self.tag_member = tag_member
        self.variants = variants

    def set_defined_in(self, name: str) -> None:
        for v in self.variants:
            v.set_defined_in(name)

    def check(self, schema: Schema, seen: Dict[str, Member]) -> None:
        if self.tag_name:
            self._check_tag(schema, seen)
            tag_type = self.tag_member.type if self.tag_member else None
            assert isinstance(tag_type, EnumType)
            cases = {v.name for v in self.variants}
            # A branch exists only where its tag value does.
            value_cond = {m.name: m.ifcond for m in tag_type.members}
            for v in self.variants:
                if v.name in value_cond:
                    v.ifcond = v.ifcond.both(value_cond[v.name])
            for m in tag_type.members:
                if m.name not in cases:
                    v = Variant(m.name, self.info, 'q_empty', m.ifcond)
                    assert self.tag_member and self.tag_member.defined_in
                    v.set_defined_in(self.tag_member.defined_in)
                    self.variants.append(v)
        if not self.variants:
            raise SchemaError(self.info, "union has no branches")
        for v in self.variants:
            v.check(schema)
            if seen:
                assert self.tag_member
                tag_type = cast(EnumType, self.tag_member.type)
                if v.name not in tag_type.member_names():
                    raise SchemaError(
                        self.info, "branch '%s' is not a value of %s"
                        % (v.name, tag_type.describe()))
                if not isinstance(v.type, ObjectType):
                    raise SchemaError(self.info, "%s cannot use %s" % (
                        v.describe(self.info), v.type.describe()))
                v.type.check(schema)

    def _check_tag(self, schema: Schema, seen: Dict[str, Member]) -> None:
        assert self.tag_name
        tag = seen.get(c_name(self.tag_name))
        base = "'base'"
        if not isinstance(tag, ObjectMember) or self.tag_name != tag.name:
            raise SchemaError(
                self.info, "discriminator '%s' is not a member of %s"
                % (self.tag_name, base))
        self.tag_member = tag
        assert tag.defined_in
        base_type = schema.lookup_type(tag.defined_in)
        assert base_type
        if not base_type.is_implicit():
            base = "base type '%s'" % tag.defined_in
        if not isinstance(tag.type, EnumType):
            raise SchemaError(
                self.info, "discriminator member '%s' of %s must be of "
                "enum type" % (self.tag_name, base))
        if tag.optional:
            raise SchemaError(
                self.info, "discriminator member '%s' of %s must not be "
                "optional" % (self.tag_name, base))
        if tag.ifcond.is_present():
            raise SchemaError(
                self.info, "discriminator member '%s' of %s must not be "
                "conditional" % (self.tag_name, base))

    def check_clash(self, info: Optional[SourceInfo],
                    seen: Dict[str, Member]) -> None:
        for v in self.variants:
            assert isinstance(v.type, ObjectType)
            v.type.check_clash(info, dict(seen))


# --- entities ----------------------------------------------------------------

class Entity:
    meta = ''

    def __init__(self, name: str, info: Optional[SourceInfo],
                 doc: Optional[Doc], ifcond: Optional[IfCond] = None,
                 features: Optional[List[Feature]] = None) -> None:
        self.name = name
        self.info = info
        self.doc = doc
        self._ifcond = ifcond or IfCond()
        self.features = features or []
        for f in self.features:
            f.set_defined_in(name)
        self.module: Optional[Module] = None
        self._checked = False

    @property
    def ifcond(self) -> IfCond:
        return self._ifcond

    @property
    def cpp_name(self) -> str:
        return c_name(self.name, protect=False)

    def is_implicit(self) -> bool:
        return not self.info

    def check(self, schema: Schema) -> None:
        assert not self._checked
        seen: Dict[str, Member] = {}
        for f in self.features:
            f.check_clash(self.info, seen)
        self._checked = True

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        doc = doc or self.doc
        if doc:
            for f in self.features:
                doc.connect_feature(f.name, f.info)

    def check_doc(self) -> None:
        if self.doc:
            self.doc.check()

    def describe(self) -> str:
        return "%s '%s'" % (self.meta, self.name)

    def has_feature(self, name: str) -> bool:
        return any(f.name == name for f in self.features)

    def visit(self, visitor: SchemaVisitor) -> None:
        pass


class Include(Entity):
    meta = 'include'

    def __init__(self, sub_module: Module, info: SourceInfo) -> None:
        super().__init__('', info, None)
        self.sub_module = sub_module

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_include(self.sub_module.name, self.info)


class Type(Entity):
    def json_type(self) -> str:
        raise NotImplementedError

    def alternate_qtype(self) -> Optional[str]:
        return {
            'null': 'QTYPE_QNULL', 'string': 'QTYPE_QSTRING',
            'number': 'QTYPE_QNUM', 'int': 'QTYPE_QNUM',
            'boolean': 'QTYPE_QBOOL', 'array': 'QTYPE_QLIST',
            'object': 'QTYPE_QDICT',
        }.get(self.json_type())

    def check(self, schema: Schema) -> None:
        super().check(schema)
        for f in self.features:
            if f.is_special():
                raise SchemaError(self.info, "feature '%s' is not "
                                  "supported for types" % f.name)

    def describe(self) -> str:
        return "%s type '%s'" % (self.meta, self.name)


class BuiltinType(Type):
    meta = 'built-in'

    def __init__(self, name: str, json_type: str, cpp_type: str) -> None:
        super().__init__(name, None, None)
        self._json_type = json_type
        self.cpp_type = cpp_type

    def json_type(self) -> str:
        return self._json_type

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_builtin_type(self)


class EnumType(Type):
    meta = 'enum'

    def __init__(self, name: str, info: Optional[SourceInfo],
                 doc: Optional[Doc], ifcond: Optional[IfCond],
                 features: Optional[List[Feature]],
                 members: List[EnumMember], prefix: Optional[str]) -> None:
        super().__init__(name, info, doc, ifcond, features)
        for m in members:
            m.set_defined_in(name)
        self.members = members
        self.prefix = prefix
        for m, e in zip(members, camel_enumerators(m.name for m in members)):
            m.enumerator = e

    def check(self, schema: Schema) -> None:
        super().check(schema)
        seen: Dict[str, Member] = {}
        for m in self.members:
            m.check_clash(self.info, seen)

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        super().connect_doc(doc)
        doc = doc or self.doc
        if doc:
            for m in self.members:
                m.doc = doc.connect_member(m.name, m.role, m.info)
                for f in m.features:
                    doc.connect_feature(f.name, f.info)

    def member_names(self) -> List[str]:
        return [m.name for m in self.members]

    def json_type(self) -> str:
        return 'string'

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_enum_type(self)


class ArrayType(Type):
    meta = 'array'

    def __init__(self, name: str, info: Optional[SourceInfo],
                 element_type: str) -> None:
        super().__init__(name, info, None)
        self.element_type_name = element_type
        self.element_type: Type = cast(Type, None)

    def check(self, schema: Schema) -> None:
        super().check(schema)
        self.element_type = schema.resolve_type(
            self.element_type_name, self.info,
            self.info.defn_meta if self.info else None)
        assert not isinstance(self.element_type, ArrayType)

    @property
    def ifcond(self) -> IfCond:
        assert self._checked
        return self.element_type.ifcond

    def is_implicit(self) -> bool:
        return True

    def json_type(self) -> str:
        return 'array'

    def describe(self) -> str:
        return "%s type ['%s']" % (self.meta, self.element_type_name)

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_array_type(self)


class ObjectType(Type):
    """A struct, a union (variants with a tag) or an implicit object."""

    def __init__(self, name: str, info: Optional[SourceInfo],
                 doc: Optional[Doc], ifcond: Optional[IfCond],
                 features: Optional[List[Feature]], base: Optional[str],
                 local_members: List[ObjectMember],
                 variants: Optional[Variants]) -> None:
        super().__init__(name, info, doc, ifcond, features)
        self.meta = 'union' if variants else 'struct'
        for m in local_members:
            m.set_defined_in(name)
        if variants:
            variants.set_defined_in(name)
        self.base_name = base
        self.base: Optional[ObjectType] = None
        self.local_members = local_members
        self.variants = variants
        self.members: Optional[List[ObjectMember]] = None
        self.rules = TypeRules()

    def check(self, schema: Schema) -> None:
        # Recursion through bases (and union branches) would make the
        # C++ struct contain itself.
        if self.members is not None:
            return
        if self._checked:
            raise SchemaError(self.info,
                              "object %s contains itself" % self.name)
        super().check(schema)
        seen: Dict[str, Member] = {}
        if self.base_name:
            base = schema.resolve_type(self.base_name, self.info, "'base'")
            if not isinstance(base, ObjectType) or base.variants:
                raise SchemaError(
                    self.info, "'base' requires a struct type, %s isn't"
                    % base.describe())
            self.base = base
            base.check(schema)
            base.check_clash(self.info, seen)
        for m in self.local_members:
            m.check(schema)
            m.check_clash(self.info, seen)
        members = cast(List[ObjectMember], list(seen.values()))
        if self.variants:
            self.variants.check(schema, seen)
            self.variants.check_clash(self.info, seen)
        self.members = members

    def check_clash(self, info: Optional[SourceInfo],
                    seen: Dict[str, Member]) -> None:
        """Members (and, for a union used as a branch, each of its
        branches' members) must not clash with seen."""
        assert self._checked
        assert self.members is not None
        for m in self.members:
            m.check_clash(info, seen)
        if self.variants:
            self.variants.check_clash(info, seen)

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        super().connect_doc(doc)
        doc = doc or self.doc
        if self.base and self.base.is_implicit():
            self.base.connect_doc(doc)
        if doc:
            for m in self.local_members:
                m.doc = doc.connect_member(m.name, m.role, m.info)
                for f in m.features:
                    doc.connect_feature(f.name, f.info)

    def is_implicit(self) -> bool:
        return self.name.startswith('q_')

    def is_empty(self) -> bool:
        assert self.members is not None
        return not self.members and not self.variants

    def has_conditional_members(self) -> bool:
        assert self.members is not None
        return any(m.ifcond.is_present() for m in self.members)

    def json_type(self) -> str:
        return 'object'

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_object_type(self)


class AlternateType(Type):
    meta = 'alternate'

    def __init__(self, name: str, info: SourceInfo, doc: Optional[Doc],
                 ifcond: Optional[IfCond], features: Optional[List[Feature]],
                 variants: Variants) -> None:
        super().__init__(name, info, doc, ifcond, features)
        assert variants.tag_member
        variants.set_defined_in(name)
        variants.tag_member.set_defined_in(name)
        self.variants = variants

    def check(self, schema: Schema) -> None:
        super().check(schema)
        assert self.variants.tag_member
        self.variants.tag_member.check(schema)
        self.variants.check(schema, {})
        seen: Dict[str, Member] = {}
        types_seen: Dict[str, str] = {}
        for v in self.variants.variants:
            v.check_clash(self.info, seen)
            qtype = v.type.alternate_qtype()
            if not qtype:
                raise SchemaError(self.info, "%s cannot use %s" % (
                    v.describe(self.info), v.type.describe()))
            conflicting = {qtype}
            if qtype == 'QTYPE_QSTRING':
                if isinstance(v.type, EnumType):
                    for m in v.type.members:
                        if m.name in ('on', 'off'):
                            conflicting.add('QTYPE_QBOOL')
                        if re.match(r'[-+0-9.]', m.name):
                            conflicting.add('QTYPE_QNUM')
                else:
                    conflicting.add('QTYPE_QNUM')
                    conflicting.add('QTYPE_QBOOL')
            for qt in sorted(conflicting):
                if qt in types_seen:
                    raise SchemaError(
                        self.info, "%s can't be distinguished from '%s'"
                        % (v.describe(self.info), types_seen[qt]))
                types_seen[qt] = v.name

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        super().connect_doc(doc)
        doc = doc or self.doc
        if doc:
            for v in self.variants.variants:
                v.doc = doc.connect_member(v.name, v.role, v.info)

    def json_type(self) -> str:
        return 'value'

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_alternate_type(self)


class Command(Entity):
    meta = 'command'

    def __init__(self, name: str, info: SourceInfo, doc: Optional[Doc],
                 ifcond: IfCond, features: List[Feature],
                 arg_type: Optional[str], ret_type: Optional[str],
                 expr: Dict[str, Value]) -> None:
        super().__init__(name, info, doc, ifcond, features)
        self.arg_type_name = arg_type
        self.ret_type_name = ret_type
        self.arg_type: Optional[ObjectType] = None
        self.ret_type: Optional[Type] = None
        self.gen = bool(expr.get('gen', True))
        self.success_response = bool(expr.get('success-response', True))
        self.boxed = bool(expr.get('boxed', False))
        self.allow_oob = bool(expr.get('allow-oob', False))
        self.allow_preconfig = bool(expr.get('allow-preconfig', False))
        self.coroutine = bool(expr.get('coroutine', False))

    def check(self, schema: Schema) -> None:
        super().check(schema)
        if self.arg_type_name:
            self.arg_type = _check_args(schema, self, "command",
                                        self.arg_type_name, self.boxed)
        if self.ret_type_name:
            self.ret_type = schema.resolve_type(
                self.ret_type_name, self.info, "command's 'returns'")
            assert self.info
            if self.name not in self.info.pragma.command_returns_exceptions:
                typ = self.ret_type
                if isinstance(typ, ArrayType):
                    typ = typ.element_type
                if not isinstance(typ, ObjectType):
                    raise SchemaError(
                        self.info, "command's 'returns' cannot take %s"
                        % self.ret_type.describe())

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        super().connect_doc(doc)
        doc = doc or self.doc
        if doc and self.arg_type and self.arg_type.is_implicit():
            self.arg_type.connect_doc(doc)

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_command(self)


class Event(Entity):
    meta = 'event'

    def __init__(self, name: str, info: SourceInfo, doc: Optional[Doc],
                 ifcond: IfCond, features: List[Feature],
                 arg_type: Optional[str], boxed: bool) -> None:
        super().__init__(name, info, doc, ifcond, features)
        self.arg_type_name = arg_type
        self.arg_type: Optional[ObjectType] = None
        self.boxed = boxed

    def check(self, schema: Schema) -> None:
        super().check(schema)
        if self.arg_type_name:
            self.arg_type = _check_args(schema, self, "event",
                                        self.arg_type_name, self.boxed)

    def connect_doc(self, doc: Optional[Doc] = None) -> None:
        super().connect_doc(doc)
        doc = doc or self.doc
        if doc and self.arg_type and self.arg_type.is_implicit():
            self.arg_type.connect_doc(doc)

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_event(self)


def _check_args(schema: Schema, ent: Entity, what: str, type_name: str,
                boxed: bool) -> ObjectType:
    typ = schema.resolve_type(type_name, ent.info, "%s's 'data'" % what)
    if not isinstance(typ, ObjectType):
        raise SchemaError(ent.info, "%s's 'data' cannot take %s"
                          % (what, typ.describe()))
    if typ.variants and not boxed:
        raise SchemaError(
            ent.info, "%s's 'data' can take %s only with 'boxed': true"
            % (what, typ.describe()))
    typ.check(schema)
    return typ


# --- modules and the schema --------------------------------------------------

class Module:
    """One schema file; the unit of per-module output files."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entities: List[Entity] = []
        self.includes: List[str] = []

    @staticmethod
    def is_builtin(name: str) -> bool:
        return name == './builtin'

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_module(self.name)
        for ent in self.entities:
            if visitor.visit_needed(ent):
                ent.visit(visitor)


class SchemaVisitor:
    """Base class of back ends: callbacks per module and entity."""

    def visit_begin(self, schema: Schema) -> None:
        pass

    def visit_end(self) -> None:
        pass

    def visit_module(self, name: str) -> None:
        pass

    def visit_needed(self, entity: Entity) -> bool:
        return True

    def visit_include(self, name: str, info: Optional[SourceInfo]) -> None:
        pass

    def visit_builtin_type(self, typ: BuiltinType) -> None:
        pass

    def visit_enum_type(self, typ: EnumType) -> None:
        pass

    def visit_array_type(self, typ: ArrayType) -> None:
        pass

    def visit_object_type(self, typ: ObjectType) -> None:
        pass

    def visit_alternate_type(self, typ: AlternateType) -> None:
        pass

    def visit_command(self, cmd: Command) -> None:
        pass

    def visit_event(self, event: Event) -> None:
        pass


BUILTINS = [
    # name, JSON type, C++ type
    ('str', 'string', 'std::string'),
    ('number', 'number', 'double'),
    ('int', 'int', 'int64_t'),
    ('int8', 'int', 'int8_t'),
    ('int16', 'int', 'int16_t'),
    ('int32', 'int', 'int32_t'),
    ('int64', 'int', 'int64_t'),
    ('uint8', 'int', 'uint8_t'),
    ('uint16', 'int', 'uint16_t'),
    ('uint32', 'int', 'uint32_t'),
    ('uint64', 'int', 'uint64_t'),
    ('size', 'int', 'uint64_t'),
    ('bool', 'boolean', 'bool'),
    ('any', 'value', '::molt::Json'),
    ('null', 'null', 'std::nullptr_t'),
]

QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool']


class Schema:
    """The whole checked schema: entities in definition order."""

    def __init__(self, fname: str) -> None:
        self.fname = fname
        self.schema_dir = os.path.dirname(fname)
        parser = Parser(fname)
        exprs = check_exprs(parser.exprs)
        self.docs = parser.docs
        self._entity_list: List[Entity] = []
        self._entity_dict: Dict[str, Entity] = {}
        self._module_dict: Dict[str, Module] = {}
        self._current_module: Optional[Module] = None
        self._predefining = True
        self._def_predefineds()
        self._predefining = False
        self.main_module = self._make_module(fname)
        self._current_module = self.main_module
        self._def_exprs(exprs)
        self._check()

    # --- definitions -------------------------------------------------------

    def _def_entity(self, ent: Entity) -> None:
        self._entity_list.append(ent)
        if ent.module is None:
            mod = (self._module_dict['./builtin'] if self._predefining
                   else self._current_module)
            if ent.info and ent.info.fname:
                mod = self._make_module(ent.info.fname)
            assert mod
            ent.module = mod
            mod.entities.append(ent)
        if not ent.name:
            return
        other = self._entity_dict.get(ent.name)
        if other:
            if other.info:
                where = SchemaError(other.info, "previous definition")
                raise SchemaError(ent.info, "'%s' is already defined\n%s"
                                  % (ent.name, where))
            raise SchemaError(ent.info, "%s is already defined"
                              % other.describe())
        self._entity_dict[ent.name] = ent

    def _make_module(self, fname: str) -> Module:
        name = fname if fname == './builtin' else \
            os.path.relpath(fname, self.schema_dir)
        if name not in self._module_dict:
            self._module_dict[name] = Module(name)
        return self._module_dict[name]

    def _def_predefineds(self) -> None:
        self._module_dict['./builtin'] = Module('./builtin')
        for name, json_type, cpp_type in BUILTINS:
            self._def_entity(BuiltinType(name, json_type, cpp_type))
            self._make_array_type(name, None)
        self.the_empty_object_type = ObjectType(
            'q_empty', None, None, None, None, None, [], None)
        self._def_entity(self.the_empty_object_type)
        self._def_entity(EnumType(
            'QType', None, None, None, None,
            [EnumMember(n, None) for n in QTYPE_VALUES], 'QTYPE'))

    def _make_features(self, features: Optional[Value],
                       info: Optional[SourceInfo]) -> List[Feature]:
        if features is None:
            return []
        assert isinstance(features, list)
        out = []
        for f in features:
            assert isinstance(f, dict)
            out.append(Feature(str(f['name']), info, IfCond(f.get('if'))))
        return out

    def _make_array_type(self, element_type: str,
                         info: Optional[SourceInfo]) -> str:
        name = element_type + 'List'
        if not self.lookup_type(name):
            self._def_entity(ArrayType(name, info, element_type))
        return name

    def _make_type_ref(self, typ: Value, info: SourceInfo) -> str:
        if isinstance(typ, list):
            assert len(typ) == 1 and isinstance(typ[0], str)
            return self._make_array_type(typ[0], info)
        assert isinstance(typ, str)
        return typ

    def _make_members(self, data: Value,
                      info: SourceInfo) -> List[ObjectMember]:
        assert isinstance(data, dict)
        out = []
        for key, value in data.items():
            assert isinstance(value, dict)
            optional = key.startswith('*')
            name = key[1:] if optional else key
            out.append(ObjectMember(
                name, info, self._make_type_ref(value['type'], info),
                optional, IfCond(value.get('if')),
                self._make_features(value.get('features'), info)))
        return out

    def _make_implicit_object_type(self, name: str, info: SourceInfo,
                                   ifcond: IfCond, role: str,
                                   members: List[ObjectMember]
                                   ) -> Optional[str]:
        if not members:
            return None
        name = 'q_obj_%s-%s' % (name, role)
        if not self.lookup_entity(name):
            self._def_entity(ObjectType(name, info, None, ifcond, None,
                                        None, members, None))
        return name

    def _def_exprs(self, exprs: List[Expr]) -> None:
        for elem in exprs:
            expr, info, doc = elem.expr, elem.info, elem.doc
            if 'include' in expr:
                fname = str(expr['include'])
                self._def_entity(Include(self._make_module(fname), info))
                continue
            meta = next(k for k in ('enum', 'struct', 'union', 'alternate',
                                    'command', 'event') if k in expr)
            name = str(expr[meta])
            ifcond = IfCond(expr.get('if'))
            features = self._make_features(expr.get('features'), info)
            getattr(self, '_def_' + meta)(expr, info, doc, name, ifcond,
                                          features)

    def _def_enum(self, expr: Dict[str, Value], info: SourceInfo,
                  doc: Optional[Doc], name: str, ifcond: IfCond,
                  features: List[Feature]) -> None:
        data = expr['data']
        assert isinstance(data, list)
        members = []
        for v in data:
            assert isinstance(v, dict)
            members.append(EnumMember(
                str(v['name']), info, IfCond(v.get('if')),
                self._make_features(v.get('features'), info)))
        prefix = expr.get('prefix')
        self._def_entity(EnumType(name, info, doc, ifcond, features, members,
                                  str(prefix) if prefix else None))

    def _def_struct(self, expr: Dict[str, Value], info: SourceInfo,
                    doc: Optional[Doc], name: str, ifcond: IfCond,
                    features: List[Feature]) -> None:
        base = expr.get('base')
        self._def_entity(ObjectType(
            name, info, doc, ifcond, features,
            str(base) if base is not None else None,
            self._make_members(expr['data'], info), None))

    def _make_variants(self, data: Value, info: SourceInfo) -> List[Variant]:
        assert isinstance(data, dict)
        out = []
        for key, value in data.items():
            assert isinstance(value, dict)
            out.append(Variant(key, info,
                               self._make_type_ref(value['type'], info),
                               IfCond(value.get('if'))))
        return out

    def _def_union(self, expr: Dict[str, Value], info: SourceInfo,
                   doc: Optional[Doc], name: str, ifcond: IfCond,
                   features: List[Feature]) -> None:
        base = expr['base']
        base_name: Optional[str]
        if isinstance(base, dict):
            base_name = self._make_implicit_object_type(
                name, info, ifcond, 'base', self._make_members(base, info))
        else:
            base_name = str(base)
        variants = self._make_variants(expr['data'], info)
        self._def_entity(ObjectType(
            name, info, doc, ifcond, features, base_name, [],
            Variants(str(expr['discriminator']), info, None, variants)))

    def _def_alternate(self, expr: Dict[str, Value], info: SourceInfo,
                       doc: Optional[Doc], name: str, ifcond: IfCond,
                       features: List[Feature]) -> None:
        variants = self._make_variants(expr['data'], info)
        tag = ObjectMember('type', info, 'QType', False)
        self._def_entity(AlternateType(
            name, info, doc, ifcond, features,
            Variants(None, info, tag, variants)))

    def _def_command(self, expr: Dict[str, Value], info: SourceInfo,
                     doc: Optional[Doc], name: str, ifcond: IfCond,
                     features: List[Feature]) -> None:
        data = expr.get('data')
        rets = expr.get('returns')
        arg_type: Optional[str] = None
        if isinstance(data, dict):
            arg_type = self._make_implicit_object_type(
                name, info, ifcond, 'arg', self._make_members(data, info))
        elif data is not None:
            arg_type = str(data)
        ret_type = self._make_type_ref(rets, info) if rets is not None \
            else None
        self._def_entity(Command(name, info, doc, ifcond, features,
                                 arg_type, ret_type, expr))

    def _def_event(self, expr: Dict[str, Value], info: SourceInfo,
                   doc: Optional[Doc], name: str, ifcond: IfCond,
                   features: List[Feature]) -> None:
        data = expr.get('data')
        arg_type: Optional[str] = None
        if isinstance(data, dict):
            arg_type = self._make_implicit_object_type(
                name, info, ifcond, 'arg', self._make_members(data, info))
        elif data is not None:
            arg_type = str(data)
        self._def_entity(Event(name, info, doc, ifcond, features, arg_type,
                               bool(expr.get('boxed', False))))

    # --- checking ----------------------------------------------------------

    def _check(self) -> None:
        for ent in self._entity_list:
            ent.check(self)
            ent.connect_doc()
            ent.check_doc()
        for ent in self._entity_list:
            if isinstance(ent, Include):
                assert ent.info and ent.module
                ent.module.includes.append(ent.sub_module.name)
        from .constraints import attach_constraints
        attach_constraints(self)

    # --- lookups -----------------------------------------------------------

    def lookup_entity(self, name: str) -> Optional[Entity]:
        return self._entity_dict.get(name)

    def lookup_type(self, name: str) -> Optional[Type]:
        ent = self._entity_dict.get(name)
        return ent if isinstance(ent, Type) else None

    def resolve_type(self, name: str, info: Optional[SourceInfo],
                     what: Union[None, str, Callable[[Optional[SourceInfo]],
                                                     str]]) -> Type:
        typ = self.lookup_type(name)
        if not typ:
            if callable(what):
                what = what(info)
            raise SchemaError(info, "%s uses unknown type '%s'"
                              % (what, name))
        return typ

    def entities(self) -> Sequence[Entity]:
        return self._entity_list

    def modules(self) -> List[Module]:
        """User modules in the order they were first seen."""
        return [m for m in self._module_dict.values()
                if not Module.is_builtin(m.name)]

    def builtin_module(self) -> Module:
        return self._module_dict['./builtin']

    def visit(self, visitor: SchemaVisitor) -> None:
        visitor.visit_begin(self)
        for mod in self._module_dict.values():
            mod.visit(visitor)
        visitor.visit_end()

    def types(self) -> Iterator[Type]:
        for ent in self._entity_list:
            if isinstance(ent, Type):
                yield ent
