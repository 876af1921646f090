"""Source locations and the one exception type of the schema compiler.

Every diagnostic names where it comes from: the include chain, the
definition being checked, and FILE:LINE (plus :COL for lexical errors),
formatted the way QEMU's QAPI generator formats them.  main() catches
SchemaError once, prints it and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class Pragma:
    """Schema-wide generator settings from 'pragma' directives."""
    doc_required: bool = False
    command_name_exceptions: List[str] = field(default_factory=list)
    command_returns_exceptions: List[str] = field(default_factory=list)
    member_name_exceptions: List[str] = field(default_factory=list)
    documentation_exceptions: List[str] = field(default_factory=list)
    # pragma documentation-exceptions was given: the schema is written
    # for QEMU 9.0 or later (7.2 rejects the pragma), whose rule that
    # every member be documented then applies.
    member_docs_required: bool = False


class SourceInfo:
    """A position in a schema file, plus what is being defined there."""

    def __init__(self, fname: str, parent: Optional[SourceInfo],
                 pragma: Optional[Pragma] = None) -> None:
        self.fname = fname
        self.line = 1
        self.parent = parent
        self.pragma: Pragma = (pragma if pragma is not None else
                               parent.pragma if parent else Pragma())
        self.defn_meta: Optional[str] = None
        self.defn_name: Optional[str] = None

    def set_defn(self, meta: str, name: str) -> None:
        self.defn_meta = meta
        self.defn_name = name

    def next_line(self) -> None:
        self.line += 1

    def copy(self) -> SourceInfo:
        # Called once per line of schema: cheaper than copy.copy().
        new = SourceInfo.__new__(SourceInfo)
        new.__dict__.update(self.__dict__)
        return new

    def loc(self) -> str:
        return '%s:%d' % (self.fname, self.line)

    def in_defn(self) -> str:
        if self.defn_name:
            return "%s: In %s '%s':\n" % (self.fname, self.defn_meta,
                                          self.defn_name)
        return ''

    def include_path(self) -> str:
        ret = ''
        parent = self.parent
        while parent:
            ret = 'In file included from %s:\n' % parent.loc() + ret
            parent = parent.parent
        return ret

    def __str__(self) -> str:
        return self.include_path() + self.in_defn() + self.loc()


class SchemaError(Exception):
    """A diagnostic about the schema; the only exception we raise."""

    def __init__(self, info: Optional[SourceInfo], msg: str,
                 col: Optional[int] = None) -> None:
        super().__init__(msg)
        self.info = info
        self.msg = msg
        self.col = col

    def __str__(self) -> str:
        if self.info is None:
            return self.msg
        loc = str(self.info)
        if self.col is not None:
            loc += ':%d' % self.col
        return loc + ': ' + self.msg
