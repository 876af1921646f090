"""Parts of definitions: 'if' conditions, features, enum values, struct
members and union branches (model.py builds them; entities.py holds
them).  A member resolves its type and checks its own name; clashes
between members are checked by the entities that own them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, cast

from .constraints import Constraints
from .doc import Section
from .names import c_name, cpp_name
from .parser import Value
from .source import SchemaError, SourceInfo

if TYPE_CHECKING:
    from .entities import Type
    from .model import Schema


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
