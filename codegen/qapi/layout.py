"""Where and in which order each generated C++ type is defined.

C++ needs a type complete before another type holds it by value (a
base, an alternate branch, an enum member), while std::vector<T> and
Box<T> only need it declared.  Every member and union branch of struct,
union or alternate type is held in a Box (runtime/box.h; QEMU's C uses
pointers), so that a type's size does not grow with everything it nests;
recursion through alternate branches is made finite by boxing every
by-value reference inside a cycle as well.  Types are then
defined in a dependency order, each in the header of its module; the
rare modules whose types depend on each other both ways share one
header (the first module's).  Everything here is a pure function of the
schema, so the output stays deterministic.
"""

from __future__ import annotations

from typing import (Dict, Hashable, List, Optional, Sequence, Set, Tuple,
                    TypeVar)

from .model import (AlternateType, EnumType, Module, ObjectMember,
                    ObjectType, Schema, Type)

Complex = (ObjectType, AlternateType)
N = TypeVar('N', bound=Hashable)


def _by_value_refs(typ: Type) -> List[Tuple[Optional[ObjectMember], Type]]:
    """(member or None for a base, type) pairs this type holds by value.
    Array members hold their elements through std::vector: not by value."""
    out: List[Tuple[Optional[ObjectMember], Type]] = []
    if isinstance(typ, ObjectType):
        if typ.base:
            out.append((None, typ.base))
        for m in typ.local_members:
            out.append((m, m.type))
        if typ.variants:
            for v in typ.variants.variants:
                if not (isinstance(v.type, ObjectType) and v.type.is_empty()):
                    out.append((v, v.type))
    elif isinstance(typ, AlternateType):
        for v in typ.variants.variants:
            out.append((v, v.type))
    return [(m, t) for m, t in out
            if isinstance(t, Complex) or isinstance(t, EnumType)]


def _sccs(nodes: List[N], edges: Dict[N, List[N]]) -> List[List[N]]:
    """Tarjan's strongly connected components (iterative), in order of
    completion: every component comes after those it depends on."""
    index: Dict[N, int] = {}
    low: Dict[N, int] = {}
    on_stack: Set[N] = set()
    stack: List[N] = []
    out: List[List[N]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            for nxt in succ:
                if nxt in on_stack:
                    low[node] = min(low[node], low[nxt])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w is node:
                        break
                out.append(comp)
    return out


class Layout:
    """Boxed members, definition order and owning header of every type."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        types = [t for t in schema.types()
                 if isinstance(t, Complex) and t.name != 'q_empty']
        self.boxed: Set[ObjectMember] = set()
        edges: Dict[Type, List[Type]] = {
            t: [r for _, r in _by_value_refs(t) if isinstance(r, Complex)]
            for t in types}
        comp_of: Dict[Type, int] = {}
        for i, comp in enumerate(_sccs(types, edges)):
            for t in comp:
                comp_of[t] = i
        for t in types:
            for m, r in _by_value_refs(t):
                if m is None or not isinstance(r, Complex):
                    continue
                if (isinstance(t, ObjectType)
                        or comp_of.get(r) == comp_of[t]):
                    self.boxed.add(m)
        self.order = self._definition_order(types)
        self.owner = self._owners()

    def is_boxed(self, member: ObjectMember) -> bool:
        return member in self.boxed

    def strong_deps(self, typ: Type) -> List[Type]:
        """Types that must be complete before typ is defined."""
        return [r for m, r in _by_value_refs(typ)
                if m is None or m not in self.boxed]

    def _definition_order(self, types: Sequence[Type]) -> List[Type]:
        """Schema order, each type moved after what it holds by value."""
        done: Set[Type] = set()
        order: List[Type] = []
        for root in types:
            work = [(root, False)]
            while work:
                t, expanded = work.pop()
                if t in done:
                    continue
                if expanded:
                    done.add(t)
                    order.append(t)
                    continue
                work.append((t, True))
                for dep in reversed(self.strong_deps(t)):
                    if isinstance(dep, Complex) and dep not in done:
                        work.append((dep, False))
        return order

    def _owners(self) -> Dict[str, str]:
        """Module name -> name of the module whose header holds its types
        (itself, unless its types and another module's need each other)."""
        names = [m.name for m in self.schema.modules()]
        edges: Dict[str, List[str]] = {}
        for t in self.order:
            assert t.module
            for dep in self.strong_deps(t):
                assert dep.module
                if (isinstance(dep, Complex) and dep.module is not t.module
                        and dep.module.name in names):
                    edges.setdefault(t.module.name, []).append(
                        dep.module.name)
        owner: Dict[str, str] = {}
        for comp in _sccs(names, edges):
            first = min(comp, key=names.index)
            for n in comp:
                owner[n] = first
        return owner

    def types_in_header(self, module: Module) -> List[Type]:
        """The complex types defined in this module's types header."""
        if self.owner.get(module.name) != module.name:
            return []
        return [t for t in self.order if t.module
                and self.owner.get(t.module.name) == module.name]

    def header_deps(self, module: Module) -> List[str]:
        """Owner modules whose types headers this one must include first:
        those defining complex types held by value here."""
        mine = self.owner.get(module.name)
        out: List[str] = []
        for t in self.types_in_header(module):
            for dep in self.strong_deps(t):
                if isinstance(dep, Complex) and dep.module \
                        and dep.module.name in self.owner:
                    o = self.owner[dep.module.name]
                    if o != mine and o not in out:
                        out.append(o)
        return out
