// A registry of schema types by name: parse any of them from text, and
// describe their members for `help`.
//
// The generated qapi-keyval.cpp fills one for every named struct and union
// (molt::schema::types()); molt-keyval and the command line look types up
// here instead of knowing them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "runtime/enum_lookup.h"
#include "runtime/result.h"
#include "runtime/visit.h"

namespace molt {

struct MemberHelp {
    std::string_view name;
    std::string_view type;     // "int", "size", "list of str", ... ("" or
                               // "list of " for enums, see enum_values)
    bool optional;
    std::string_view when;     // union branches selecting it, "tag=value, ..."
    std::string_view summary;  // first sentence of the documentation
    std::string_view extra;    // valid values and default, or ""
    // For a member of enum type (or a list of one): its string table, whose
    // values, joined by '|', follow `type`.  Read from the table, so values
    // whose 'if' condition is false are not offered.
    const EnumLookup& (*enum_values)();
};

// The string table of enum E, as a function a constant table can point to.
template <class E>
const EnumLookup& enum_lookup_of() {
    return enum_lookup(E{});
}

struct TypeEntry {
    std::string_view name;
    // Text (keyval, or JSON if it starts with '{') -> the typed value,
    // validated and written back as JSON.
    Result<std::string> (*parse)(std::string_view text, std::string_view implied_key);
    const MemberHelp* members;
    size_t member_count;
};

class TypeRegistry {
public:
    TypeRegistry(const TypeEntry* entries, size_t count) : m_entries(entries), m_count(count) {}
    const TypeEntry* find(std::string_view name) const;
    const TypeEntry* begin() const { return m_entries; }
    const TypeEntry* end() const { return m_entries + m_count; }

private:
    const TypeEntry* m_entries;
    size_t m_count;
};

// QEMU-style help: "NAME options:" then one line per member.
std::string format_help(const TypeEntry& type);

template <class T>
Result<std::string> parse_as_json(std::string_view text, std::string_view implied_key) {
    ParsedInput p = MOLT_TRY(parse_input(text, implied_key));
    Input in(p.mode);
    T value{};
    MOLT_TRY(ApiType<T>::visit_in(in, p.tree.value(), value));
    return to_json(value);
}

}  // namespace molt
