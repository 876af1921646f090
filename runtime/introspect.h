// Rendering of generated introspection tables (query-qmp-schema).
//
// The generator emits the SchemaInfo list as a flat table of JSON writer
// operations, so that #if lines can sit between any two of them; this
// turns the table into JSON text.
#pragma once

#include <cstddef>
#include <string>

namespace molt {

// op: '{' '}' '[' ']' begin/end object or array; 'k' key; 's' string;
// 't' true; 'n' null; '(' ')' bracket something deprecated.
struct IntrospectOp {
    char op;
    const char* text;
};

std::string render_introspection(const IntrospectOp* ops, size_t count, bool hide_deprecated);

}  // namespace molt
