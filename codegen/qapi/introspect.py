"""Back end: introspection data for query-qmp-schema.

The reply has QEMU's shape (SchemaInfo): one entry per command and event
in schema order, then one per type they use, in order of first use; type
names other than built-ins are masked as numbers ("0", "1", ...); every
integer type is reported as 'int'; optional members carry "default":
null; features are listed; 'if'-false entities vanish.  The data is a
flat table of writer operations with #if lines between them, rendered
once at run time by runtime/introspect.cpp.  Entities and members with
the 'deprecated' feature are bracketed so that -compat
deprecated-output=hide can drop them (and the deprecated enum 'values').
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .backend import Backend
from .gen import Generator
from .layout import Layout
from .model import (AlternateType, ArrayType, BuiltinType, Command,
                    EnumType, Event, Feature, IfCond, ObjectType, Schema,
                    Type)

# One line of the table: ('op', kind, text) or ('if'|'endif', cond, '').
Line = Tuple[str, str, str]


class IntrospectBackend(Backend):

    def __init__(self, gen: Generator, schema: Schema, layout: Layout,
                 unmask: bool) -> None:
        super().__init__(gen, schema, layout)
        self.unmask = unmask
        self.names: Dict[str, str] = {}
        self.used: List[Type] = []
        self.lines: List[Line] = []

    # --- names -------------------------------------------------------------

    def _name(self, name: str) -> str:
        if self.unmask:
            return name
        if name not in self.names:
            self.names[name] = str(len(self.names))
        return self.names[name]

    def use_type(self, typ: Type) -> str:
        if typ.json_type() == 'int':
            found = self.schema.lookup_type('int')
            assert found
            typ = found
        elif (isinstance(typ, ArrayType)
              and typ.element_type.json_type() == 'int'):
            found = self.schema.lookup_type('intList')
            assert found
            typ = found
        if typ not in self.used:
            self.used.append(typ)
        if isinstance(typ, BuiltinType):
            return typ.name
        if isinstance(typ, ArrayType):
            return '[' + self.use_type(typ.element_type) + ']'
        return self._name(typ.name)

    # --- table building ------------------------------------------------------

    def op(self, kind: str, text: str = '') -> None:
        self.lines.append(('op', kind, text))

    def cond_begin(self, ifcond: Optional[IfCond]) -> None:
        if ifcond and ifcond.is_present():
            self.lines.append(('if', ifcond.cgen(), ''))

    def cond_end(self, ifcond: Optional[IfCond]) -> None:
        if ifcond and ifcond.is_present():
            self.lines.append(('endif', ifcond.cgen(), ''))

    def kv(self, key: str, value: str) -> None:
        self.op('k', key)
        self.op('s', value)

    def features(self, features: List[Feature]) -> None:
        if not features:
            return
        self.op('k', 'features')
        self.op('[')
        for f in features:
            self.cond_begin(f.ifcond)
            self.op('s', f.name)
            self.cond_end(f.ifcond)
        self.op(']')

    @staticmethod
    def deprecated(features: List[Feature]) -> bool:
        return any(f.name == 'deprecated' for f in features)

    def entry(self, name: str, meta: str, ifcond: Optional[IfCond],
              features: List[Feature], body: List[Line]) -> None:
        dep = self.deprecated(features)
        self.cond_begin(ifcond)
        if dep:
            self.op('(')
        self.op('{')
        self.kv('name', name)
        self.kv('meta-type', meta)
        self.lines.extend(body)
        self.features(features)
        self.op('}')
        if dep:
            self.op(')')
        self.cond_end(ifcond)

    def capture(self) -> List[Line]:
        """Starts collecting an entry's body; returns the outer table."""
        outer = self.lines
        self.lines = []
        return outer

    def command(self, c: Command) -> None:
        outer = self.capture()
        empty = self.schema.the_empty_object_type
        self.kv('arg-type', self.use_type(c.arg_type or empty))
        self.kv('ret-type', self.use_type(c.ret_type or empty))
        if c.allow_oob:
            self.op('k', 'allow-oob')
            self.op('t')
        body, self.lines = self.lines, outer
        self.entry(c.name, 'command', c.ifcond, c.features, body)

    def event(self, e: Event) -> None:
        outer = self.capture()
        self.kv('arg-type',
                self.use_type(e.arg_type or self.schema.the_empty_object_type))
        body, self.lines = self.lines, outer
        self.entry(e.name, 'event', e.ifcond, e.features, body)

    def type_entry(self, t: Type) -> None:
        outer = self.capture()
        if isinstance(t, BuiltinType):
            self.kv('json-type', t.json_type())
            meta, name = 'builtin', t.name
        elif isinstance(t, ArrayType):
            self.kv('element-type', self.use_type(t.element_type))
            meta, name = 'array', '[' + self.use_type(t.element_type) + ']'
        elif isinstance(t, EnumType):
            self.op('k', 'members')
            self.op('[')
            for m in t.members:
                self.cond_begin(m.ifcond)
                self.op('{')
                self.kv('name', m.name)
                self.features(m.features)
                self.op('}')
                self.cond_end(m.ifcond)
            self.op(']')
            self.op('(')       # 'values' is itself deprecated
            self.op('k', 'values')
            self.op('[')
            for m in t.members:
                self.cond_begin(m.ifcond)
                self.op('s', m.name)
                self.cond_end(m.ifcond)
            self.op(']')
            self.op(')')
            meta, name = 'enum', self._name(t.name)
        elif isinstance(t, ObjectType):
            self.object_body(t)
            meta, name = 'object', self._name(t.name)
        else:
            assert isinstance(t, AlternateType)
            self.op('k', 'members')
            self.op('[')
            for v in t.variants.variants:
                self.cond_begin(v.ifcond)
                self.op('{')
                self.kv('type', self.use_type(v.type))
                self.op('}')
                self.cond_end(v.ifcond)
            self.op(']')
            meta, name = 'alternate', self._name(t.name)
        body, self.lines = self.lines, outer
        feats = [] if isinstance(t, (BuiltinType, ArrayType)) else t.features
        self.entry(name, meta, t.ifcond, feats, body)

    def object_body(self, t: ObjectType) -> None:
        assert t.members is not None
        self.op('k', 'members')
        self.op('[')
        for m in t.members:
            dep = self.deprecated(m.features)
            self.cond_begin(m.ifcond)
            if dep:
                self.op('(')
            self.op('{')
            self.kv('name', m.name)
            self.kv('type', self.use_type(m.type))
            if m.optional:
                self.op('k', 'default')
                self.op('n')
            self.features(m.features)
            self.op('}')
            if dep:
                self.op(')')
            self.cond_end(m.ifcond)
        self.op(']')
        if t.variants:
            assert t.variants.tag_member
            self.kv('tag', t.variants.tag_member.name)
            self.op('k', 'variants')
            self.op('[')
            for v in t.variants.variants:
                self.cond_begin(v.ifcond)
                self.op('{')
                self.kv('case', v.name)
                self.kv('type', self.use_type(v.type))
                self.op('}')
                self.cond_end(v.ifcond)
            self.op(']')

    def build(self) -> List[Line]:
        self.op('[')
        for mod in self.modules():
            for ent in self.entities(mod):
                if isinstance(ent, Command):
                    self.command(ent)
                elif isinstance(ent, Event):
                    self.event(ent)
        i = 0
        while i < len(self.used):   # the queue grows while we walk it
            self.type_entry(self.used[i])
            i += 1
        self.op(']')
        return self.lines

    def comments(self) -> List[str]:
        """'"N" = Name' lines mapping masked names back, for readers."""
        return ['"%s" = %s' % (v, k) for k, v in self.names.items()]

    def generate(self) -> None:
        self.run()
        lines = self.build()
        header = self.gen.schema_file('qapi-introspect', '.h')
        self.gen.render(header, 'introspect.h.j2', b=self, cpp=self.cpp)
        self.gen.render(self.gen.schema_file('qapi-introspect', '.cpp'),
                        'introspect.cpp.j2', b=self, cpp=self.cpp,
                        header=header, ops=self.ops_text(lines))

    def ops_text(self, lines: List[Line]) -> str:
        """The table's rows, one per line: joined here rather than in the
        template, whose per-row loop was a fifth of a QEMU-sized schema's
        generation time."""
        out = []
        for kind, a, text in lines:
            if kind == 'if':
                out.append('#if %s\n' % a)
            elif kind == 'endif':
                out.append('#endif  // %s\n' % a)
            elif text:
                out.append("    {'%s', %s},\n" % (a, self.cpp.string(text)))
            else:
                out.append("    {'%s', nullptr},\n" % a)
        return ''.join(out)
