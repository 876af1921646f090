// Typing of moltctl's keyval arguments by introspection; see
// moltctl_schema.h.
#include "cli/moltctl_schema.h"

#include <string>

#include "runtime/coerce.h"

namespace molt::cli {

namespace {

// Union variants can name further unions; no real schema nests deeply.
constexpr unsigned kMaxVariantDepth = 32;

std::string_view text(const JsonValue& v) {
    return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
}

// The string member key of object v, or "" if there is none.
std::string_view string_member(const JsonValue& v, const char* key) {
    if (!v.IsObject()) return {};
    auto it = v.FindMember(key);
    return it == v.MemberEnd() ? std::string_view() : text(it->value);
}

const JsonValue* array_member(const JsonValue& v, const char* key) {
    if (!v.IsObject()) return nullptr;
    auto it = v.FindMember(key);
    return it != v.MemberEnd() && it->value.IsArray() ? &it->value : nullptr;
}

std::string child_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// Converts the string v to a builtin's json-type in place; false when it
// does not convert.  "string", "value" (any) and "null" leave it alone.
bool convert_scalar(JsonValue& v, std::string_view json_type) {
    std::string s(text(v));
    if (json_type == "int") {
        if (auto i = parse_int64(s)) {
            v.SetInt64(*i);
        } else if (auto u = parse_uint64(s); u && s.find('-') == std::string::npos) {
            v.SetUint64(*u);  // above INT64_MAX
        } else if (auto size = parse_size(s)) {
            v.SetUint64(*size);  // introspection shows `size` as "int"
        } else {
            return false;
        }
    } else if (json_type == "number") {
        auto d = parse_number(s);
        if (!d) return false;
        v.SetDouble(*d);
    } else if (json_type == "boolean") {
        auto b = parse_bool(s);
        if (!b) return false;
        v.SetBool(*b);
    }
    return true;
}

// What molt's own keyval visitor says for each json-type (runtime/visit.cpp).
std::string_view expected(std::string_view json_type) {
    if (json_type == "int") return "integer";
    if (json_type == "boolean") return "'on' or 'off'";
    return json_type;
}

bool enum_has(const JsonValue& type, std::string_view value) {
    const JsonValue* values = array_member(type, "values");
    if (!values) return false;
    for (const auto& e : values->GetArray()) {
        if (text(e) == value) return true;
    }
    return false;
}

}  // namespace

SchemaTypes::SchemaTypes(Json schema) : m_schema(std::move(schema)) {
    if (!m_schema.value().IsArray()) return;
    for (const auto& info : m_schema.value().GetArray()) {
        std::string_view name = string_member(info, "name");
        if (!name.empty()) m_types.emplace(name, &info);
    }
}

const JsonValue* SchemaTypes::lookup(const JsonValue& entry, const char* key) const {
    auto it = m_types.find(string_member(entry, key));
    return it == m_types.end() ? nullptr : it->second;
}

Result<void> SchemaTypes::type_arguments(std::string_view command, Json& args) const {
    auto it = m_types.find(command);
    if (it == m_types.end() || string_member(*it->second, "meta-type") != "command") return ok();
    const JsonValue* type = lookup(*it->second, "arg-type");
    if (!type) return ok();
    return coerce(args.value(), *type, "");
}

Result<void> SchemaTypes::coerce(JsonValue& v, const JsonValue& type,
                                 const std::string& path) const {
    std::string_view meta = string_member(type, "meta-type");
    if (meta == "builtin" && v.IsString()) {
        std::string_view json_type = string_member(type, "json-type");
        if (!convert_scalar(v, json_type)) {
            return Error("Parameter '" + path + "' expects " + std::string(expected(json_type)));
        }
    } else if (meta == "object" && v.IsObject()) {
        return coerce_object(v, type, path);
    } else if (meta == "array" && v.IsArray()) {
        return coerce_array(v, type, path);
    } else if (meta == "alternate") {
        return coerce_alternate(v, type, path);
    }
    // Enums stay strings; a value of the wrong shape is the server's to
    // reject, with its own message.
    return ok();
}

Result<void> SchemaTypes::coerce_object(JsonValue& v, const JsonValue& type,
                                        const std::string& path) const {
    for (auto& m : v.GetObject()) {
        std::string_view key = text(m.name);
        const JsonValue* member = member_type(type, key, v, 0);
        if (!member) continue;  // unknown: the server says so
        MOLT_TRY(coerce(m.value, *member, child_path(path, key)));
    }
    return ok();
}

Result<void> SchemaTypes::coerce_array(JsonValue& v, const JsonValue& type,
                                       const std::string& path) const {
    const JsonValue* element = lookup(type, "element-type");
    if (!element) return ok();
    size_t index = 0;
    for (auto& e : v.GetArray()) {
        MOLT_TRY(coerce(e, *element, child_path(path, std::to_string(index++))));
    }
    return ok();
}

// A string takes the first alternative that accepts it (a string builtin
// accepts anything, an enum its values, a scalar builtin what converts);
// an object or a list takes the first object or array alternative.
Result<void> SchemaTypes::coerce_alternate(JsonValue& v, const JsonValue& type,
                                           const std::string& path) const {
    const JsonValue* members = array_member(type, "members");
    if (!members) return ok();
    for (const auto& m : members->GetArray()) {
        const JsonValue* alt = lookup(m, "type");
        if (!alt) continue;
        std::string_view meta = string_member(*alt, "meta-type");
        if (v.IsString()) {
            if (meta == "enum" && enum_has(*alt, text(v))) return ok();
            if (meta == "builtin" && convert_scalar(v, string_member(*alt, "json-type"))) return ok();
        } else if ((meta == "object" && v.IsObject()) || (meta == "array" && v.IsArray())) {
            return coerce(v, *alt, path);
        }
    }
    if (v.IsString()) {
        return Error("Parameter '" + path + "' does not accept '" + std::string(text(v)) + "'");
    }
    return ok();
}

// The type of member key of an object type: one of its own members, else
// one of the variant that the tag's value in object selects.
const JsonValue* SchemaTypes::member_type(const JsonValue& type, std::string_view key,
                                          const JsonValue& object, unsigned depth) const {
    if (const JsonValue* members = array_member(type, "members")) {
        for (const auto& m : members->GetArray()) {
            if (string_member(m, "name") == key) return lookup(m, "type");
        }
    }
    const JsonValue* variants = array_member(type, "variants");
    std::string_view tag = string_member(type, "tag");
    if (!variants || tag.empty() || depth >= kMaxVariantDepth) return nullptr;
    std::string tag_key(tag);
    std::string_view tag_value = string_member(object, tag_key.c_str());
    for (const auto& variant : variants->GetArray()) {
        if (string_member(variant, "case") != tag_value) continue;
        const JsonValue* variant_type = lookup(variant, "type");
        return variant_type ? member_type(*variant_type, key, object, depth + 1) : nullptr;
    }
    return nullptr;
}

}  // namespace molt::cli
