"""What every back end shares: per-module entity lists and references.

A back end is a SchemaVisitor that sorts entities into modules, then
renders one template per module (and possibly one for the whole
schema).  This base class does the sorting; subclasses say which
entities they want and render.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set

from .cpp import Cpp
from .gen import Generator
from .layout import Complex, Layout
from .model import (AlternateType, ArrayType, Command, EnumType, Entity,
                    Event, Module, ObjectType, Schema, SchemaVisitor, Type)


class Backend(SchemaVisitor):
    """Collects each module's entities in schema order."""

    def __init__(self, gen: Generator, schema: Schema, layout: Layout) -> None:
        self.gen = gen
        self.schema = schema
        self.layout = layout
        self.cpp = Cpp(layout)
        self.by_module: Dict[str, List[Entity]] = {}
        self._module: Optional[str] = None

    def run(self) -> None:
        self.schema.visit(self)

    def visit_module(self, name: str) -> None:
        self._module = name
        self.by_module.setdefault(name, [])

    def _add(self, ent: Entity) -> None:
        assert self._module is not None
        self.by_module[self._module].append(ent)

    def visit_enum_type(self, typ: EnumType) -> None:
        self._add(typ)

    def visit_object_type(self, typ: ObjectType) -> None:
        self._add(typ)

    def visit_alternate_type(self, typ: AlternateType) -> None:
        self._add(typ)

    def visit_command(self, cmd: Command) -> None:
        self._add(cmd)

    def visit_event(self, event: Event) -> None:
        self._add(event)

    def generate(self) -> None:
        """Renders this back end's outputs into the Generator."""
        raise NotImplementedError

    # --- queries used by templates -------------------------------------

    def modules(self) -> List[Module]:
        return [self.schema.builtin_module()] + self.schema.modules()

    def entities(self, module: Module) -> List[Entity]:
        return self.by_module.get(module.name, [])

    def enums(self, module: Module) -> List[EnumType]:
        return [e for e in self.entities(module) if isinstance(e, EnumType)]

    def complex_types(self, module: Module) -> List[Type]:
        """Structs, unions, implicit objects and alternates of a module
        (not q_empty), in schema order."""
        return [t for t in self.entities(module)
                if isinstance(t, Complex) and t.name != 'q_empty']

    def commands(self, module: Module) -> List[Command]:
        return [c for c in self.entities(module) if isinstance(c, Command)]

    def events(self, module: Module) -> List[Event]:
        return [e for e in self.entities(module) if isinstance(e, Event)]

    def referenced_types(self, ents: Sequence[Entity]) -> List[Type]:
        """Named types (enums and complex types) that these entities
        mention: members, bases, branches, arguments, returns, data."""
        out: List[Type] = []
        seen: Set[str] = set()

        def add(t: Optional[Type]) -> None:
            if t is None:
                return
            if isinstance(t, ArrayType):
                t = t.element_type
            if isinstance(t, (EnumType, ObjectType, AlternateType)) \
                    and t.name not in seen and t.name != 'q_empty':
                seen.add(t.name)
                out.append(t)

        def add_parts(e: Optional[Entity]) -> None:
            if isinstance(e, ObjectType):
                add(e.base)
                for m in e.local_members:
                    add(m.type)
                if e.variants:
                    for v in e.variants.variants:
                        add(v.type)
            elif isinstance(e, AlternateType):
                for v in e.variants.variants:
                    add(v.type)

        for e in ents:
            if isinstance(e, (Command, Event)):
                # Marshallers and emitters copy arguments member by member.
                add(e.arg_type)
                add_parts(e.arg_type)
                if isinstance(e, Command):
                    add(e.ret_type)
            else:
                add_parts(e)
        return out

    def foreign_modules(self, module: Module, ents: Sequence[Entity],
                        what: str) -> List[str]:
        """Output names of `what` headers of the other modules whose
        types these entities reference.  A value's special members are
        defined out of line, so a source file needs complete only the
        types it names itself, not what those hold in Boxes and vectors."""
        out: List[str] = []
        for t in self.referenced_types(ents):
            assert t.module
            if t.module is module:
                continue
            name = self.gen.module_file(what, t.module.name, '.h')
            if name not in out:
                out.append(name)
        return out

    # --- helpers for templates ---------------------------------------------

    @staticmethod
    def doc(ent: object) -> str:
        """First paragraph of an entity's or member's documentation."""
        from .doc import Section
        doc = getattr(ent, 'doc', None)
        if isinstance(doc, Section):
            return doc.prose()
        if doc is not None and hasattr(doc, 'body'):
            return str(doc.body.prose())
        return ''

    @staticmethod
    def has_conditional(items: List) -> bool:  # type: ignore[type-arg]
        return any(i.ifcond.is_present() for i in items)

    @staticmethod
    def branches(typ: ObjectType) -> List:  # type: ignore[type-arg]
        """Union branches that carry members (not the implicit empty ones)."""
        assert typ.variants
        return [v for v in typ.variants.variants
                if not (isinstance(v.type, ObjectType) and v.type.is_empty())]
