"""Back end: QMP event emitters, per module, and the event list.

Per module: emit_<event>(EventSink&, <data members>) (or the data struct
when 'boxed'), which serialises the data with the output visitor under
the sink's -compat policy and hands it to the sink.  Whole schema: the
names of all events as an enum with a string table.
"""

from __future__ import annotations

from typing import List

from .backend import Backend
from .model import Event, Module, ObjectMember


class EventsBackend(Backend):

    def params(self, ev: Event) -> List[ObjectMember]:
        if ev.boxed or not ev.arg_type:
            return []
        assert ev.arg_type.members is not None
        return ev.arg_type.members

    def all_events(self) -> List[Event]:
        return [e for mod in self.modules() for e in self.events(mod)]

    def modules(self) -> List[Module]:
        """User modules only: built-ins have no events."""
        return self.schema.modules()

    def header_includes(self, module: Module) -> List[str]:
        """Types headers of other modules declaring types the events
        name: their declarations need them."""
        return self.foreign_modules(module, list(self.events(module)),
                                    'qapi-types')

    def source_includes(self, module: Module) -> List[str]:
        ents = list(self.events(module))
        return [self.gen.module_file('qapi-visit', module.name, '.h')] + \
            self.foreign_modules(module, ents, 'qapi-visit')

    def generate(self) -> None:
        self.run()
        for mod in self.modules():
            header = self.gen.module_file('qapi-events', mod.name, '.h')
            ctx = dict(b=self, cpp=self.cpp, module=mod, header=header,
                       types_header=self.gen.module_file('qapi-types',
                                                         mod.name, '.h'))
            self.gen.render(header, 'events.h.j2', **ctx)
            self.gen.render(self.gen.module_file('qapi-events', mod.name,
                                                 '.cpp'),
                            'events.cpp.j2', **ctx)
        header = self.gen.schema_file('qapi-emit-events', '.h')
        self.gen.render(header, 'emit-events.h.j2', b=self, cpp=self.cpp)
        self.gen.render(self.gen.schema_file('qapi-emit-events', '.cpp'),
                        'emit-events.cpp.j2', b=self, cpp=self.cpp,
                        header=header)
