"""Definitions of the schema model: types (built-in, enum, array,
object, alternate), commands and events, with the union variants that
objects carry.  Each checks itself against the whole schema (model.py
calls check() once everything is defined) and visits a SchemaVisitor.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, List, Optional, cast

from .constraints import TypeRules
from .doc import Doc
from .members import (EnumMember, Feature, IfCond, Member, ObjectMember,
                      Variant)
from .names import c_name, camel_enumerators
from .parser import Value
from .source import SchemaError, SourceInfo

if TYPE_CHECKING:
    from .model import Module, Schema, SchemaVisitor


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
        if self.tag_name is not None:
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
        assert self.tag_name is not None
        tag = seen.get(c_name(self.tag_name)) if self.tag_name else None
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
