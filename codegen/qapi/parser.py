"""Stage 1: schema text -> top-level expressions with source locations.

The syntax is QAPI's: JSON-like, single-quoted strings of printable
ASCII with only the escape \\\\, `true`/`false`, no numbers or null, `#`
comments, and `##` documentation blocks.  Includes are expanded here
(each file once; loops rejected); pragmas are recorded in the shared
Pragma.  Output: a list of Expr (the parsed object, its SourceInfo and
the Doc block in front of it, if any) and the free-standing doc blocks,
in schema order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple, Union

from .doc import Doc
from .source import SchemaError, SourceInfo

# A parsed value: nested dicts (insertion-ordered), lists, str, bool.
Value = Union[str, bool, List['Value'], Dict[str, 'Value']]


@dataclass
class Expr:
    expr: Dict[str, Value]
    info: SourceInfo
    doc: Optional[Doc] = None


class ParseError(SchemaError):
    """A lexical or syntax error; located at a line and column."""

    def __init__(self, parser: Parser, msg: str) -> None:
        super().__init__(parser.info, msg, parser.column())


_STRAY = re.compile(r"[^[\]{}:,\s']+")
_SPACE = re.compile(r'[ \t\r\f\v]+')
_PLAIN_STRING = re.compile(r"[ !\"#$%&(-\[\]-~]*")  # printable, no ' or \


def _printable(text: str) -> str:
    """Bytes that are not UTF-8 (read as surrogate escapes) as \\xNN."""
    return ''.join('\\x%02x' % (ord(ch) - 0xdc00)
                   if 0xdc80 <= ord(ch) <= 0xdcff else ch for ch in text)


class Parser:
    """Parses one schema file, and recursively the files it includes."""

    def __init__(self, fname: str, included: Optional[Set[str]] = None,
                 parent: Optional[SourceInfo] = None) -> None:
        self.fname = fname
        self.included = included if included is not None else set()
        self.included.add(os.path.abspath(fname))
        self.info = SourceInfo(fname, parent)
        self.exprs: List[Expr] = []
        self.docs: List[Doc] = []
        with open(fname, encoding='utf-8', errors='surrogateescape') as fp:
            self.src = fp.read()
        if not self.src.endswith('\n'):
            self.src += '\n'
        self.cursor = 0
        self.line_pos = 0
        self.pos = 0
        self.tok: Optional[str] = None
        self.val: Value = ''
        self._parse()

    # --- lexer -------------------------------------------------------------

    def column(self) -> int:
        """1-based column of the current token, tabs every 8."""
        col = 1
        for ch in self.src[self.line_pos:self.pos]:
            col = (col + 7) % 8 + 1 if ch == '\t' else col + 1
        return col

    def accept(self, skip_comment: bool = True) -> None:
        """Advance to the next token: one of {}[]:, ' (string, in val),
        t/f (booleans, in val), # (a doc comment line, in val) or None
        at the end of the file."""
        src = self.src
        while True:
            m = _SPACE.match(src, self.cursor)
            if m:
                self.cursor = m.end()
            self.tok = src[self.cursor]
            self.pos = self.cursor
            self.cursor += 1
            self.val = ''
            tok = self.tok
            if tok == '#':
                if src[self.cursor] == '#':
                    skip_comment = False        # a '##' block starts
                self.cursor = src.find('\n', self.cursor)
                if not skip_comment:
                    self.val = src[self.pos:self.cursor]
                    return
            elif tok in '{}:,[]':
                return
            elif tok == "'":
                self.val = self._string()
                return
            elif src.startswith('true', self.pos):
                self.val = True
                self.cursor += 3
                return
            elif src.startswith('false', self.pos):
                self.val = False
                self.cursor += 4
                return
            elif tok == '\n':
                if self.cursor == len(src):
                    self.tok = None
                    return
                self.info = self.info.copy()
                self.info.next_line()
                self.line_pos = self.cursor
            elif not tok.isspace():
                m = _STRAY.match(src, self.pos)
                raise ParseError(self, "stray '%s'"
                                 % _printable(m.group(0) if m else tok))

    def _string(self) -> str:
        src = self.src
        out = []
        while True:
            m = _PLAIN_STRING.match(src, self.cursor)
            if m and m.end() > self.cursor:
                out.append(m.group(0))
                self.cursor = m.end()
            ch = src[self.cursor]
            self.cursor += 1
            if ch == "'":
                return ''.join(out)
            if ch == '\\':
                nxt = src[self.cursor]
                self.cursor += 1
                if nxt != '\\':
                    if nxt == '\n':
                        raise ParseError(self, "missing terminating \"'\"")
                    raise ParseError(self, "unknown escape \\%s" % nxt)
                out.append('\\')
            elif ch == '\n':
                raise ParseError(self, "missing terminating \"'\"")
            else:
                raise ParseError(self, "funny character in string")

    # --- grammar -----------------------------------------------------------

    def get_members(self) -> Dict[str, Value]:
        expr: Dict[str, Value] = {}
        if self.tok == '}':
            self.accept()
            return expr
        if self.tok != "'":
            raise ParseError(self, "expected string or '}'")
        while True:
            key = self.val
            assert isinstance(key, str)
            self.accept()
            if self.tok != ':':
                raise ParseError(self, "expected ':'")
            self.accept()
            if key in expr:
                raise ParseError(self, "duplicate key '%s'" % key)
            expr[key] = self.get_expr()
            if self.tok == '}':
                self.accept()
                return expr
            if self.tok != ',':
                raise ParseError(self, "expected ',' or '}'")
            self.accept()
            if self.tok != "'":
                raise ParseError(self, "expected string")

    def get_values(self) -> List[Value]:
        expr: List[Value] = []
        if self.tok == ']':
            self.accept()
            return expr
        if self.tok is None or self.tok not in "{['tf":
            raise ParseError(self,
                             "expected '{', '[', ']', string, or boolean")
        while True:
            expr.append(self.get_expr())
            if self.tok == ']':
                self.accept()
                return expr
            if self.tok != ',':
                raise ParseError(self, "expected ',' or ']'")
            self.accept()

    def get_expr(self) -> Value:
        expr: Value
        if self.tok == '{':
            self.accept()
            expr = self.get_members()
        elif self.tok == '[':
            self.accept()
            expr = self.get_values()
        elif self.tok is not None and self.tok in "'tf":
            expr = self.val
            self.accept()
        else:
            raise ParseError(self, "expected '{', '[', string, or boolean")
        return expr

    # --- top level ---------------------------------------------------------

    def _parse(self) -> None:
        cur_doc: Optional[Doc] = None
        self.accept()
        while self.tok is not None:
            info = self.info
            if self.tok == '#':
                self._reject_expr_doc(cur_doc)
                cur_doc = None
                for doc in self.get_doc(info):
                    self.docs.append(doc)
                    cur_doc = doc
                continue
            expr = self.get_expr()
            if not isinstance(expr, dict):
                raise SchemaError(info,
                                  "top-level expression must be an object")
            if 'include' in expr:
                self._reject_expr_doc(cur_doc)
                self._include(expr, info)
            elif 'pragma' in expr:
                self._reject_expr_doc(cur_doc)
                self._pragmas(expr, info)
            else:
                if cur_doc and not cur_doc.symbol:
                    raise SchemaError(cur_doc.info,
                                      "definition documentation required")
                self.exprs.append(Expr(expr, info, cur_doc))
            cur_doc = None
        self._reject_expr_doc(cur_doc)

    @staticmethod
    def _reject_expr_doc(doc: Optional[Doc]) -> None:
        if doc and doc.symbol:
            raise SchemaError(
                doc.info,
                "documentation for '%s' is not followed by the definition"
                % doc.symbol)

    def _include(self, expr: Dict[str, Value], info: SourceInfo) -> None:
        if len(expr) != 1:
            raise SchemaError(info, "invalid 'include' directive")
        include = expr['include']
        if not isinstance(include, str):
            raise SchemaError(info, "value of 'include' must be a string")
        fname = os.path.join(os.path.dirname(self.fname), include)
        self.exprs.append(Expr({'include': fname}, info))
        abs_fname = os.path.abspath(fname)
        inf: Optional[SourceInfo] = info
        while inf:
            if abs_fname == os.path.abspath(inf.fname):
                raise SchemaError(info, "inclusion loop for %s" % include)
            inf = inf.parent
        if abs_fname in self.included:
            return
        try:
            sub = Parser(fname, self.included, info)
        except OSError as err:
            raise SchemaError(info, "can't read include file '%s': %s"
                              % (fname, err.strerror)) from err
        self.exprs.extend(sub.exprs)
        self.docs.extend(sub.docs)

    def _pragmas(self, expr: Dict[str, Value], info: SourceInfo) -> None:
        if len(expr) != 1:
            raise SchemaError(info, "invalid 'pragma' directive")
        pragma = expr['pragma']
        if not isinstance(pragma, dict):
            raise SchemaError(info, "value of 'pragma' must be an object")
        for name, value in pragma.items():
            self._pragma(name, value, info)

    @staticmethod
    def _pragma(name: str, value: Value, info: SourceInfo) -> None:
        pragma = info.pragma
        if name == 'doc-required':
            if not isinstance(value, bool):
                raise SchemaError(info,
                                  "pragma 'doc-required' must be boolean")
            pragma.doc_required = value
            return
        lists = {
            'command-name-exceptions': pragma.command_name_exceptions,
            'command-returns-exceptions': pragma.command_returns_exceptions,
            'member-name-exceptions': pragma.member_name_exceptions,
            'documentation-exceptions': pragma.documentation_exceptions,
        }
        if name not in lists:
            raise SchemaError(info, "unknown pragma '%s'" % name)
        if (not isinstance(value, list)
                or any(not isinstance(elt, str) for elt in value)):
            raise SchemaError(info,
                              "pragma %s must be a list of strings" % name)
        target = lists[name]
        target[:] = [str(v) for v in value]
        if name == 'documentation-exceptions':
            pragma.member_docs_required = True

    def get_doc(self, info: SourceInfo) -> List[Doc]:
        """Reads one '##' ... '##' block into a Doc."""
        if self.val != '##':
            raise ParseError(
                self, "junk after '##' at start of documentation comment")
        lines: List[Tuple[str, SourceInfo, int]] = []
        self.accept(False)
        while self.tok == '#':
            assert isinstance(self.val, str)
            line = self.val
            if line.startswith('##'):
                if line != '##':
                    raise ParseError(
                        self,
                        "junk after '##' at end of documentation comment")
                doc = Doc.parse(lines, info, (self.info, self.column()))
                self.accept()
                return [doc]
            lines.append((line, self.info, self.column()))
            self.accept(False)
        raise ParseError(self, "documentation comment must end with '##'")
