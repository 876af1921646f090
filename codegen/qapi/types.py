"""Back end: C++ types, one header and one source per module.

Enums become `enum class` with a string table (EnumLookup); structs
become aggregates with std::optional for optional members and
std::vector for lists; a union derives from its base and keeps every
branch in a member struct `u` (the discriminator says which one is
meaningful, as in QEMU's C); an alternate derives from std::variant of
its branches; `any` is a molt::Json.  See layout.py for ordering and
boxing.
"""

from __future__ import annotations

from typing import List

from .backend import Backend
from .model import EnumType, Module, Type


class TypesBackend(Backend):

    def forward_decls(self, module: Module) -> List[str]:
        """Declarations of every named type the header mentions."""
        own = self.layout.types_in_header(module)
        refs = self.referenced_types(list(own)) + own
        out: List[str] = []
        for t in refs:
            name = self.cpp.type_name(t)
            decl = ('enum class %s : int;' if isinstance(t, EnumType)
                    else 'struct %s;') % name
            if decl not in out:
                out.append(decl)
        return out

    def header_includes(self, module: Module) -> List[str]:
        return [self.gen.module_file('qapi-types', m, '.h')
                for m in self.layout.header_deps(module)]

    def owner_header(self, module: Module) -> str:
        return self.gen.module_file(
            'qapi-types', self.layout.owner.get(module.name, module.name),
            '.h')

    def schema_includes(self, module: Module) -> List[str]:
        return [self.gen.module_file('qapi-types', m, '.h')
                for m in module.includes]

    def source_includes(self, module: Module) -> List[str]:
        own = self.layout.types_in_header(module)
        return self.foreign_modules(module, list(own), 'qapi-types')

    def header_types(self, module: Module) -> List[Type]:
        return self.layout.types_in_header(module)

    def generate(self) -> None:
        self.run()
        for mod in self.modules():
            ctx = dict(b=self, cpp=self.cpp, module=mod)
            self.gen.render(self.gen.module_file('qapi-types', mod.name, '.h'),
                            'types.h.j2', **ctx)
            self.gen.render(
                self.gen.module_file('qapi-types', mod.name, '.cpp'),
                'types.cpp.j2',
                header=self.gen.module_file('qapi-types', mod.name, '.h'),
                **ctx)
