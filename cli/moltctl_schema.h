// moltctl's typing of KEY=VALUE arguments by introspection.
//
// The keyval parser (runtime/keyval.h) gives a tree whose leaves are all
// strings; a QMP server wants integers, numbers and booleans.  moltctl
// asks the server for its schema (query-qmp-schema, a SchemaInfo list
// whose object type names are masked numbers) and walks it from the
// command's "arg-type": object members by name (union variants by their
// tag's value), "array" element types, "alternate" members, down to the
// "builtin" json-types.  Strings become what the json-type says, with
// molt's keyval rules (runtime/coerce.h): "int" by strtoll (base 0), or as
// a size with a binary suffix (k/M/G/T...), since introspection shows
// `size` and every other integer type as "int"; "number" by strtod;
// "boolean" from on/off/yes/no/true/false.  Enums and strings stay
// strings, `any` stays as it is, and keys the schema does not know are
// left for the server to reject, so its error text reaches the user.
//
//   argv words -> keyval tree -> SchemaTypes::type_arguments -> QMP request
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "runtime/json.h"
#include "runtime/result.h"

namespace molt::cli {

class SchemaTypes {
public:
    // schema: the return value of query-qmp-schema (an array of SchemaInfo);
    // entries without a string "name" are ignored.
    explicit SchemaTypes(Json schema);
    SchemaTypes(const SchemaTypes&) = delete;
    SchemaTypes& operator=(const SchemaTypes&) = delete;

    // Converts the string leaves of args (a keyval tree, modified in place)
    // to the types of command's arguments.  A command the schema does not
    // have is left alone (the server reports it).  Error: a value that does
    // not convert, e.g. "Parameter 'downtime-limit' expects integer".
    Result<void> type_arguments(std::string_view command, Json& args) const;

private:
    // The SchemaInfo named by entry's string member key, or nullptr.
    const JsonValue* lookup(const JsonValue& entry, const char* key) const;
    Result<void> coerce(JsonValue& v, const JsonValue& type, const std::string& path) const;
    Result<void> coerce_object(JsonValue& v, const JsonValue& type, const std::string& path) const;
    Result<void> coerce_array(JsonValue& v, const JsonValue& type, const std::string& path) const;
    Result<void> coerce_alternate(JsonValue& v, const JsonValue& type,
                                  const std::string& path) const;
    const JsonValue* member_type(const JsonValue& type, std::string_view key,
                                 const JsonValue& object, unsigned depth) const;

    Json m_schema;
    std::unordered_map<std::string_view, const JsonValue*> m_types;
};

}  // namespace molt::cli
