"""Back end: QMP command handlers, marshallers and the dispatch table.

Per module: the declarations of the handwritten handlers
  Result<R> qmp_<name>(qmp::Context&, <arguments>)
(arguments as separate parameters, or one struct when 'boxed'), and the
generated marshallers that parse a request's arguments, call the
handler and write its return value.  Whole schema: register_commands()
filling a qmp::CommandTable with every command and its flags, and the
list of 'gen': false commands whose owners register them by hand.
"""

from __future__ import annotations

from typing import List

from .backend import Backend
from .model import Command, Module, ObjectMember


class CommandsBackend(Backend):

    def params(self, cmd: Command) -> List[ObjectMember]:
        """Handler parameters of a non-boxed command."""
        if cmd.boxed or not cmd.arg_type:
            return []
        assert cmd.arg_type.members is not None
        return cmd.arg_type.members

    def flags(self, cmd: Command) -> str:
        bits = [f for f, on in (('::molt::qmp::kAllowOob', cmd.allow_oob),
                                ('::molt::qmp::kAllowPreconfig',
                                 cmd.allow_preconfig),
                                ('::molt::qmp::kCoroutine', cmd.coroutine),
                                ('::molt::qmp::kNoSuccessResponse',
                                 not cmd.success_response)) if on]
        return ' | '.join(bits) or '0'

    def generated(self, module: Module) -> List[Command]:
        return [c for c in self.commands(module) if c.gen]

    def all_commands(self) -> List[Command]:
        return [c for mod in self.modules() for c in self.commands(mod)]

    def modules(self) -> List[Module]:
        """User modules only: built-ins have no commands."""
        return self.schema.modules()

    def header_includes(self, module: Module) -> List[str]:
        """Types headers of other modules declaring types the commands
        name: their declarations need them."""
        return self.foreign_modules(module, list(self.commands(module)),
                                    'qapi-types')

    def source_includes(self, module: Module) -> List[str]:
        ents = list(self.commands(module))
        return [self.gen.module_file('qapi-visit', module.name, '.h')] + \
            self.foreign_modules(module, ents, 'qapi-visit')

    def generate(self) -> None:
        self.run()
        for mod in self.modules():
            header = self.gen.module_file('qapi-commands', mod.name, '.h')
            ctx = dict(b=self, cpp=self.cpp, module=mod, header=header,
                       types_header=self.gen.module_file('qapi-types',
                                                         mod.name, '.h'))
            self.gen.render(header, 'commands.h.j2', **ctx)
            self.gen.render(self.gen.module_file('qapi-commands', mod.name,
                                                 '.cpp'),
                            'commands.cpp.j2', **ctx)
        header = self.gen.schema_file('qapi-init-commands', '.h')
        includes = [self.gen.module_file('qapi-commands', m.name, '.h')
                    for m in self.modules()]
        self.gen.render(header, 'init-commands.h.j2', b=self, cpp=self.cpp)
        self.gen.render(self.gen.schema_file('qapi-init-commands', '.cpp'),
                        'init-commands.cpp.j2', b=self, cpp=self.cpp,
                        header=header, includes=includes)
