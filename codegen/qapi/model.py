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
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

from .check import check_exprs
from .doc import Doc
from .entities import (AlternateType, ArrayType, BuiltinType, Command,
                       Entity, EnumType, Event, Include, ObjectType, Type,
                       Variants)
from .members import (EnumMember, Feature, IfCond, Member, ObjectMember,
                      Variant)
from .parser import Expr, Parser, Value
from .source import SchemaError, SourceInfo

# The model's vocabulary, for back ends: import it from here.
__all__ = ['AlternateType', 'ArrayType', 'BuiltinType', 'Command', 'Entity',
           'EnumMember', 'EnumType', 'Event', 'Feature', 'IfCond', 'Include',
           'Member', 'Module', 'ObjectMember', 'ObjectType', 'Schema',
           'SchemaVisitor', 'Type', 'Variant', 'Variants']


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
