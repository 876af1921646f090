"""Back end: the reference manual, in Markdown, from the doc comments.

One file for the whole schema, in schema order: free-form blocks give
headings and prose ('= Title' -> '#'); each definition gets a section
with its description, a table of its members (type, whether optional,
description, valid values and default from the [[...]] annotations),
its features, conditions, and tagged sections (Returns, Since, ...).
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from .backend import Backend
from .doc import Doc
from .model import (AlternateType, ArrayType, Command, EnumType, Entity,
                    Event, Feature, IfCond, ObjectMember, ObjectType, Type)


def md(text: str) -> str:
    """Doc-comment markup to Markdown: @name -> `name` (a name may hold
    '.' and '-' but not end with them: "see @max." is about max)."""
    return re.sub(r'@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)',
                  r'`\1`', text)


def only_if(ifcond: IfCond) -> str:
    """' Only if `COND`.' for a conditional item, else ''."""
    return ' Only if `%s`.' % ifcond.docgen() if ifcond.is_present() else ''


def feature_list(features: List[Feature]) -> str:
    return ', '.join(f.name + (' (only if `%s`)' % f.ifcond.docgen()
                               if f.ifcond.is_present() else '')
                     for f in features)


def cell(text: str) -> str:
    return md(' '.join(text.split())).replace('|', '\\|')


class DocBackend(Backend):

    def type_ref(self, typ: Type) -> str:
        if isinstance(typ, ArrayType):
            return '[%s]' % self.type_ref(typ.element_type)
        if typ.is_implicit() or typ.info is None:
            return typ.name
        return '[%s](#%s)' % (typ.name, self.anchor(typ.name))

    @staticmethod
    def anchor(name: str) -> str:
        return 'def-' + re.sub(r'[^a-z0-9-]', '-', name.lower())

    def items(self) -> List[Tuple[str, object]]:
        """('free', Doc) and ('def', Entity) in schema order."""
        out: List[Tuple[str, object]] = []
        defs = {id(e.doc): e for mod in self.modules()
                for e in self.entities(mod) if e.doc}
        for doc in self.schema.docs:
            ent = defs.get(id(doc))
            if ent is not None:
                out.append(('def', ent))
            elif doc.symbol is None:
                out.append(('free', doc))
        documented = set(defs)
        for mod in self.modules():
            for e in self.entities(mod):
                if id(e.doc) not in documented and not e.is_implicit():
                    out.append(('def', e))
        return out

    @staticmethod
    def free_text(doc: Doc) -> str:
        lines = []
        for line in doc.body.lines:
            # '= Title' is QEMU's heading; a line of '=' alone is a reST
            # underline (QEMU 9.2 on), which Markdown reads as one too.
            m = re.match(r'(=+)\s+(\S.*)', line)
            if m:
                lines.append('#' * len(m.group(1)) + ' ' + m.group(2))
            else:
                lines.append(md(line))
        return '\n'.join(lines).strip()

    @staticmethod
    def kind(e: Entity) -> str:
        return {'command': 'Command', 'event': 'Event', 'enum': 'Enum',
                'struct': 'Struct', 'union': 'Union',
                'alternate': 'Alternate'}.get(e.meta, e.meta)

    @staticmethod
    def body(e: Entity) -> str:
        return md(e.doc.body.prose()) if e.doc else ''

    def member_rows(self, members: List[ObjectMember]) -> List[List[str]]:
        rows = []
        for m in members:
            desc = m.doc.prose() if m.doc else ''
            c = m.constraints
            notes = []
            if not c.is_empty():
                notes.append('Valid: ' + c.describe(m.type) + '.')
            if c.has_default:
                d = c.default
                notes.append('Default: `%s`.' % (
                    ('true' if d else 'false') if isinstance(d, bool)
                    else '[]' if isinstance(d, list) else d))
            if m.ifcond.is_present():
                notes.append('Only if `%s`.' % m.ifcond.docgen())
            feats = feature_list(m.features)
            if feats:
                notes.append('Features: %s.' % feats)
            rows.append(['`%s`' % m.name, self.type_ref(m.type),
                         'no' if m.optional else 'yes',
                         cell(' '.join([desc] + notes))])
        return rows

    def members_of(self, e: Entity) -> Tuple[str, List[ObjectMember],
                                             Optional[str]]:
        """(table title, members, 'the members of X' note)."""
        if isinstance(e, (Command, Event)):
            title = 'Arguments' if isinstance(e, Command) else 'Data'
            t = e.arg_type
            if t is None:
                return title, [], None
            if not t.is_implicit():
                return title, [], 'The members of %s.' % self.type_ref(t)
            assert t.members is not None
            return title, t.members, None
        if isinstance(e, ObjectType):
            assert e.members is not None
            return 'Members', e.members, None
        return '', [], None

    def branches(  # type: ignore[override]
            self, t: ObjectType) -> List[Tuple[str, str]]:
        out = []
        if t.variants:
            for v in t.variants.variants:
                if isinstance(v.type, ObjectType) and v.type.is_empty():
                    continue
                out.append((v.name,
                            self.type_ref(v.type) + only_if(v.ifcond)))
        return out

    def alternatives(self, t: AlternateType) -> List[List[str]]:
        return [['`%s`' % v.name, self.type_ref(v.type),
                 cell((v.doc.prose() if v.doc else '') + only_if(v.ifcond))]
                for v in t.variants.variants]

    def enum_rows(self, t: EnumType) -> List[List[str]]:
        rows = []
        for v in t.members:
            desc = v.doc.prose() if v.doc else ''
            desc += only_if(v.ifcond)
            if v.features:
                desc += ' Features: %s.' % feature_list(v.features)
            rows.append(['`%s`' % v.name, cell(desc)])
        return rows

    @staticmethod
    def features(e: Entity) -> List[Tuple[str, str]]:
        out = []
        feats: List[Feature] = list(e.features)
        for f in feats:
            sec = e.doc.features.get(f.name) if e.doc else None
            out.append((f.name, cell((sec.prose() if sec else '') +
                                     only_if(f.ifcond))))
        return out

    @staticmethod
    def sections(e: Entity) -> List[Tuple[str, str]]:
        """(tag, text) of the tagged sections; examples keep their text
        as written (a code block)."""
        if not e.doc:
            return []
        return [(s.name, s.prose() if s.name.startswith('Example')
                 else md(s.prose()))
                for s in e.doc.sections if s.prose() and s.name != '']

    @staticmethod
    def notes(e: Entity) -> List[str]:
        if not e.doc:
            return []
        return [md(s.prose()) for s in e.doc.sections
                if s.name == '' and s.prose()]

    @staticmethod
    def is_enum(e: Entity) -> bool:
        return isinstance(e, EnumType)

    @staticmethod
    def is_alternate(e: Entity) -> bool:
        return isinstance(e, AlternateType)

    @staticmethod
    def is_object(e: Entity) -> bool:
        return isinstance(e, ObjectType)

    def returns(self, e: Entity) -> str:
        if isinstance(e, Command) and e.ret_type:
            return self.type_ref(e.ret_type)
        return ''

    def generate(self) -> None:
        self.run()
        self.gen.render(self.gen.schema_file('qapi-doc', '.md'), 'doc.md.j2',
                        b=self, cpp=self.cpp,
                        title=self.schema.main_module.name)
