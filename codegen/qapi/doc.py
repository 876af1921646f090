"""Documentation comments: '##' blocks parsed into a Doc.

A definition doc starts with '# @Symbol:'; it has a body, one section
per documented member ('@name: text'), one per feature (after
'Features:'), and tagged sections ('Returns:', 'Since:', ...).  Any
other block is free-form (headings, prose).  The parser is lenient in
the ways QEMU's versions differ (indentation of continuation lines,
section order, rST markup), and strict where all of them agree.

Member sections also carry molt's validation annotations, `[[...]]`
clauses (see docs/schema-extensions.md); they are collected here as
raw text and interpreted by the constraints module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .source import SchemaError, SourceInfo

_ARG = re.compile(r'@([^\s:]+):(?:\s+(.*))?$')
_TAG = re.compile(r'(Returns|Errors|Since|Notes?|Examples?|TODO)\s*:'
                  r'(?:\s+(.*))?$')
_FEATURES = re.compile(r'Features:\s*$')
ANNOTATION = re.compile(r'\[\[(.*?)\]\](?!\])', re.S)


@dataclass
class Section:
    """One part of a doc block: a member, a feature, a tagged or an
    untagged (name '') text section."""
    name: str
    info: SourceInfo
    lines: List[str] = field(default_factory=list)
    connected: bool = False
    col: Optional[int] = None

    @property
    def text(self) -> str:
        return '\n'.join(self.lines).strip('\n')

    def annotations(self) -> List[str]:
        """The bodies of the `[[...]]` annotations in this section."""
        return [m.group(1) for m in ANNOTATION.finditer(self.text)]

    def prose(self) -> str:
        """The text with annotations removed (for the manual)."""
        text = ANNOTATION.sub('', self.text)
        return re.sub(r'[ \t]+\n', '\n', text).strip()


class Doc:
    """A parsed documentation block."""

    def __init__(self, info: SourceInfo) -> None:
        self.info = info
        self.symbol: Optional[str] = None
        self.body = Section('', info)
        self.args: Dict[str, Section] = {}
        self.features: Dict[str, Section] = {}
        self.sections: List[Section] = []

    # --- parsing -----------------------------------------------------------

    @staticmethod
    def parse(lines: List[Tuple[str, SourceInfo, int]],
              info: SourceInfo, end: Tuple[SourceInfo, int]) -> Doc:
        """A doc block from its lines (text, location, column of the
        '#'), its first line's location and its closing '##' line's."""
        doc = Doc(info)
        texts: List[Tuple[str, SourceInfo, int]] = []
        for raw, linfo, col in lines:
            if raw == '#':
                texts.append(('', linfo, col))
            elif raw.startswith('# '):
                texts.append((raw[2:], linfo, col))
            else:
                raise SchemaError(linfo, "missing space after #", col)
        if texts and texts[0][0].startswith('@'):
            first, finfo, fcol = texts.pop(0)
            if not first.rstrip().endswith(':'):
                raise SchemaError(finfo, "line should end with ':'", fcol)
            doc.symbol = first.rstrip()[1:-1]
            if not doc.symbol:
                raise SchemaError(finfo, "name required after '@'", fcol)
            doc._parse_definition(texts, end)
        else:
            for text, linfo, col in texts:
                m = re.match(r'(@\S+:)', text)
                if m:
                    raise SchemaError(
                        linfo, "'%s' not allowed in free-form documentation"
                        % m.group(1), col)
            doc.body.lines = [t for t, _, _ in texts]
        return doc

    def _parse_definition(self, texts: List[Tuple[str, SourceInfo, int]],
                          end: Tuple[SourceInfo, int]) -> None:
        cur = self.body
        # A section ends where the next one starts (or at the closing
        # '##'); QEMU 7.2 reports an empty one there.  'Features:' alone
        # does not end a section, the first feature does.
        unchecked: Optional[Section] = None
        in_features = False
        blank = False
        tagged: Optional[Section] = None     # first tagged section, if any
        # Indentation of a section's text (QEMU 9's rule, which also
        # holds in 7.2 where the two agree): the first indented line
        # after a section's header line sets the indentation, and the
        # line right after it must not move left of it.
        awaiting_indent = False
        indent: Optional[int] = None
        for text, info, col in texts:
            unindented = bool(text) and not text[0].isspace()
            if unindented and text.startswith('='):
                raise SchemaError(
                    info, "unexpected '=' markup in definition "
                    "documentation", col)
            if indent is not None and text.strip():
                width = len(text) - len(text.lstrip())
                starts_section = unindented and bool(
                    _ARG.match(text) or _TAG.match(text)
                    or _FEATURES.match(text))
                if width < indent and not starts_section:
                    raise SchemaError(
                        info, "unexpected de-indent (expected at least %d "
                        "spaces)" % indent, col)
            indent = None
            if awaiting_indent and text.strip():
                awaiting_indent = False
                if not unindented:
                    indent = len(text) - len(text.lstrip())
            arg = _ARG.match(text) if unindented else None
            if unindented and text.startswith('@:'):
                raise SchemaError(info, "invalid parameter name", col)
            if arg:
                name = arg.group(1)
                if tagged and not in_features:
                    raise SchemaError(info, "'@%s:' can't follow '%s' section"
                                      % (name, tagged.name), col)
                table = self.features if in_features else self.args
                if name in table:
                    raise SchemaError(
                        info, "'%s' parameter name duplicated" % name, col)
                self._end_section(unchecked or cur, info, col)
                unchecked = None
                cur = Section(name, info, [arg.group(2) or ''], col=col)
                table[name] = cur
                awaiting_indent = True
            elif unindented and _FEATURES.match(text) and not in_features:
                unchecked = cur
                in_features = True
                cur = Section('', info, col=col)
                self.sections.append(cur)
            elif unindented and _TAG.match(text):
                m = _TAG.match(text)
                assert m
                name = m.group(1)
                if name in ('Returns', 'Since', 'Errors') \
                        and self.has_section(name):
                    raise SchemaError(info, "duplicated '%s' section" % name,
                                      col)
                self._end_section(unchecked or cur, info, col)
                unchecked = None
                cur = Section(name, info, [m.group(2) or ''], col=col)
                self.sections.append(cur)
                tagged = tagged or cur
                in_features = False
                awaiting_indent = True
            elif (unindented and blank and cur is not self.body
                  and cur.name and (cur.name in self.args
                                    or cur.name in self.features)):
                # Prose after a member's description: a new plain section.
                self._end_section(cur, info, col)
                cur = Section('', info, [text], col=col)
                self.sections.append(cur)
            else:
                cur.lines.append(text.strip() if cur is not self.body
                                 else text)
            blank = not text.strip()
        self._end_section(unchecked or cur, *end)

    @staticmethod
    def _end_section(sec: Section, info: SourceInfo, col: int) -> None:
        """A member, feature or tagged section needs text; info and
        col locate the line that ends it."""
        if sec.name and not sec.text.strip():
            raise SchemaError(info, "empty doc section '%s'" % sec.name, col)

    # --- checks ------------------------------------------------------------

    def has_section(self, name: str) -> bool:
        return any(s.name == name for s in self.sections)

    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def connect_member(self, name: str, role: str,
                       info: Optional[SourceInfo]) -> Optional[Section]:
        """The section documenting member (value, branch) name.  A
        member must be documented unless pragma documentation-exceptions
        names the definition: QEMU 9's rule, which applies only to
        schemas that give that pragma (QEMU 7.2 rejects it, and accepts
        undocumented members)."""
        sec = self.args.get(name)
        if sec:
            sec.connected = True
        elif (info and info.pragma.member_docs_required
              and self.symbol not in info.pragma.documentation_exceptions):
            raise SchemaError(info, "%s '%s' lacks documentation"
                              % (role, name))
        return sec

    def connect_feature(self, name: str,
                        info: Optional[SourceInfo]) -> Section:
        """Features must be documented when their definition is."""
        sec = self.features.get(name)
        if not sec:
            raise SchemaError(info, "feature '%s' lacks documentation" % name)
        sec.connected = True
        return sec

    def check(self) -> None:
        """Every documented member and feature must exist."""
        for table, what in ((self.args, 'member'),
                            (self.features, 'feature')):
            bogus = [n for n, s in table.items() if not s.connected]
            if bogus:
                raise SchemaError(
                    self.info, "documented %s%s '%s' %s not exist" % (
                        what, 's' if len(bogus) > 1 else '',
                        "', '".join(bogus),
                        'do' if len(bogus) > 1 else 'does'))

    def all_sections(self) -> List[Section]:
        """Body, members, features and the other sections."""
        return ([self.body] + list(self.args.values())
                + list(self.features.values()) + self.sections)

    def type_annotations(self) -> List[Tuple[str, SourceInfo]]:
        """`[[...]]` annotations outside member sections (type level)."""
        out = [(a, self.body.info) for a in self.body.annotations()]
        for s in self.sections:
            out += [(a, s.info) for a in s.annotations()]
        return out
