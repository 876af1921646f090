"""molt's QAPI schema compiler.

Stages, each a module: parser (text -> expressions with locations),
check (shape of each expression), model (resolved types and semantic
checks), then one back end per output kind, each a visitor over the
model rendering Jinja2 templates from codegen/templates/.
"""
