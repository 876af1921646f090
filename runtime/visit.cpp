// Input and Output visitor support; see visit.h.
#include "runtime/visit.h"

#include <cstdlib>

#include "runtime/coerce.h"

namespace molt {

// --- VisitPath ---------------------------------------------------------------

VisitPath::Scope VisitPath::member(std::string_view name) {
    m_segs.push_back({name, 0, false});
    return Scope(*this);
}

VisitPath::Scope VisitPath::element(size_t index) {
    m_segs.push_back({{}, index, true});
    return Scope(*this);
}

void VisitPath::pop() { m_segs.pop_back(); }

std::string VisitPath::str() const {
    std::string s;
    for (const auto& seg : m_segs) {
        if (seg.is_index) {
            if (m_mode == InputMode::Keyval) {
                if (!s.empty()) s += '.';
                s += std::to_string(seg.index);
            } else {
                s += '[' + std::to_string(seg.index) + ']';
            }
        } else {
            if (!s.empty()) s += '.';
            s += seg.name;
        }
    }
    return s.empty() ? "<anonymous>" : s;
}

Error VisitPath::missing() const { return Error("Parameter '" + str() + "' is missing"); }

Error VisitPath::unexpected() const { return Error("Parameter '" + str() + "' is unexpected"); }

Error VisitPath::expects(std::string_view description) const {
    return Error("Parameter '" + str() + "' expects " + std::string(description));
}

Error VisitPath::invalid_type(std::string_view expected) const {
    return Error("Invalid parameter type for '" + str() + "', expected: " + std::string(expected));
}

Result<ParsedInput> parse_input(std::string_view text, std::string_view implied_key) {
    if (!text.empty() && text[0] == '{') {
        Json tree = MOLT_TRY(Json::parse(text));
        return ParsedInput{std::move(tree), InputMode::Json};
    }
    Json tree = MOLT_TRY(keyval_parse(text, implied_key));
    return ParsedInput{std::move(tree), InputMode::Keyval};
}

// --- Input ---------------------------------------------------------------------

Input::Object::Object(const JsonValue& obj) : m_obj(&obj), m_taken(obj.MemberCount(), false) {}

const JsonValue* Input::Object::take(std::string_view key) {
    size_t i = 0;
    for (auto it = m_obj->MemberBegin(); it != m_obj->MemberEnd(); ++it, ++i) {
        if (it->name.GetStringLength() == key.size() &&
            std::string_view(it->name.GetString(), key.size()) == key) {
            m_taken[i] = true;
            return &it->value;
        }
    }
    return nullptr;
}

Result<Input::Object> Input::begin_object(const JsonValue& v) {
    if (!v.IsObject()) return m_path.invalid_type("object");
    return Object(v);
}

Result<void> Input::end_object(const Object& obj) {
    size_t i = 0;
    for (auto it = obj.m_obj->MemberBegin(); it != obj.m_obj->MemberEnd(); ++it, ++i) {
        if (!obj.m_taken[i]) {
            auto scope = m_path.member(std::string_view(it->name.GetString(),
                                                        it->name.GetStringLength()));
            return m_path.unexpected();
        }
    }
    return ok();
}

Result<const JsonValue*> Input::begin_list(const JsonValue& v) {
    if (!v.IsArray()) return m_path.invalid_type("array");
    return &v;
}

Error Input::missing(std::string_view name) {
    auto scope = m_path.member(name);
    return m_path.missing();
}

Result<void> compat_input_ok(unsigned special, const CompatPolicy& policy, std::string_view what,
                             ErrorClass cls) {
    struct Rule {
        unsigned bit;
        CompatInput input;
        const char* adjective;
    };
    const Rule rules[] = {{kFeatureDeprecated, policy.deprecated_input, "Deprecated"},
                          {kFeatureUnstable, policy.unstable_input, "Unstable"}};
    for (const auto& r : rules) {
        if (!(special & r.bit) || r.input == CompatInput::Accept) continue;
        if (r.input == CompatInput::Crash) std::abort();
        return Error(std::string(r.adjective) + " " + std::string(what) + " disabled by policy",
                     cls);
    }
    return ok();
}

Result<void> Input::member_features(unsigned special) {
    if (!special) return ok();
    return compat_input_ok(special, m_policy, "parameter " + m_path.str());
}

JsonKind Input::kind(const JsonValue& v) const {
    switch (v.GetType()) {
    case rapidjson::kNullType: return JsonKind::Null;
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return JsonKind::Bool;
    case rapidjson::kNumberType: return JsonKind::Number;
    case rapidjson::kStringType: return JsonKind::String;
    case rapidjson::kObjectType: return JsonKind::Object;
    case rapidjson::kArrayType: return JsonKind::Array;
    }
    return JsonKind::Null;
}

Result<std::string_view> Input::keyval_scalar(const JsonValue& v) {
    if (v.IsObject() || v.IsArray()) {
        return Error("Parameters '" + m_path.str() + ".*' are unexpected");
    }
    if (!v.IsString()) return m_path.invalid_type("string");
    return std::string_view(v.GetString(), v.GetStringLength());
}

Result<void> Input::read_int(const JsonValue& v, int64_t& out, int64_t min, int64_t max,
                             std::string_view type_name) {
    if (m_mode == InputMode::Keyval) {
        auto s = MOLT_TRY(keyval_scalar(v));
        auto x = parse_int64(s);
        if (!x) return m_path.expects("integer");
        out = *x;
    } else {
        if (!v.IsInt64()) return m_path.invalid_type("integer");
        out = v.GetInt64();
    }
    if (out < min || out > max) return m_path.expects(type_name);
    return ok();
}

Result<void> Input::read_uint(const JsonValue& v, uint64_t& out, uint64_t max,
                              std::string_view type_name) {
    if (m_mode == InputMode::Keyval) {
        auto s = MOLT_TRY(keyval_scalar(v));
        auto x = parse_uint64(s);
        if (!x) return m_path.expects("integer");
        out = *x;
    } else if (v.IsUint64()) {
        out = v.GetUint64();
    } else if (v.IsInt64()) {
        out = static_cast<uint64_t>(v.GetInt64());  // negative wraps, as QEMU
    } else {
        return m_path.expects("uint64");
    }
    if (out > max) return m_path.expects(type_name);
    return ok();
}

Result<void> Input::read_size(const JsonValue& v, uint64_t& out) {
    if (m_mode == InputMode::Json) {
        return read_uint(v, out, UINT64_MAX, "uint64");
    }
    auto s = MOLT_TRY(keyval_scalar(v));
    auto x = parse_size(s);
    if (!x) return m_path.expects("size");
    out = *x;
    return ok();
}

Result<void> Input::read_bool(const JsonValue& v, bool& out) {
    if (m_mode == InputMode::Keyval) {
        auto s = MOLT_TRY(keyval_scalar(v));
        auto x = parse_bool(s);
        if (!x) return m_path.expects("'on' or 'off'");
        out = *x;
        return ok();
    }
    if (!v.IsBool()) return m_path.invalid_type("boolean");
    out = v.GetBool();
    return ok();
}

Result<void> Input::read_number(const JsonValue& v, double& out) {
    if (m_mode == InputMode::Keyval) {
        auto s = MOLT_TRY(keyval_scalar(v));
        auto x = parse_number(s);
        if (!x) return m_path.invalid_type("number");
        out = *x;
        return ok();
    }
    if (!v.IsNumber()) return m_path.invalid_type("number");
    out = v.GetDouble();
    return ok();
}

Result<void> Input::read_str(const JsonValue& v, std::string& out) {
    if (m_mode == InputMode::Keyval) {
        // "s.x=1" makes s a dict: QEMU's qobject_input_get_keyval message.
        auto s = MOLT_TRY(keyval_scalar(v));
        out.assign(s);
        return ok();
    }
    if (!v.IsString()) return m_path.invalid_type("string");
    out.assign(v.GetString(), v.GetStringLength());
    return ok();
}

Result<void> Input::read_null(const JsonValue& v) {
    if (!v.IsNull()) return m_path.invalid_type("null");
    return ok();
}

Result<void> Input::read_any(const JsonValue& v, Json& out) {
    out = Json(v);
    return ok();
}

Result<int> Input::read_enum(const JsonValue& v, const EnumLookup& lookup) {
    std::string s;
    MOLT_TRY(read_str(v, s));
    int i = lookup.find(s);
    if (i < 0) {
        return Error("Parameter '" + m_path.str() + "' does not accept value '" + s + "'");
    }
    unsigned special = lookup.features_of(i);
    if ((special & kFeatureDeprecated) && m_policy.deprecated_input != CompatInput::Accept) {
        if (m_policy.deprecated_input == CompatInput::Crash) std::abort();
        return Error("Deprecated value " + s + " disabled by policy");
    }
    if ((special & kFeatureUnstable) && m_policy.unstable_input != CompatInput::Accept) {
        if (m_policy.unstable_input == CompatInput::Crash) std::abort();
        return Error("Unstable value " + s + " disabled by policy");
    }
    return i;
}

// --- built-in types ------------------------------------------------------------

Result<void> visit_in_int(Input& in, const JsonValue& v, int64_t& out) {
    return visit_in_integer(in, v, out, "int64");
}
Result<void> visit_in_int8(Input& in, const JsonValue& v, int8_t& out) {
    return visit_in_integer(in, v, out, "int8_t");
}
Result<void> visit_in_int16(Input& in, const JsonValue& v, int16_t& out) {
    return visit_in_integer(in, v, out, "int16_t");
}
Result<void> visit_in_int32(Input& in, const JsonValue& v, int32_t& out) {
    return visit_in_integer(in, v, out, "int32_t");
}
Result<void> visit_in_int64(Input& in, const JsonValue& v, int64_t& out) {
    return visit_in_integer(in, v, out, "int64");
}
Result<void> visit_in_uint8(Input& in, const JsonValue& v, uint8_t& out) {
    return visit_in_integer(in, v, out, "uint8_t");
}
Result<void> visit_in_uint16(Input& in, const JsonValue& v, uint16_t& out) {
    return visit_in_integer(in, v, out, "uint16_t");
}
Result<void> visit_in_uint32(Input& in, const JsonValue& v, uint32_t& out) {
    return visit_in_integer(in, v, out, "uint32_t");
}
Result<void> visit_in_uint64(Input& in, const JsonValue& v, uint64_t& out) {
    return visit_in_integer(in, v, out, "uint64");
}
Result<void> visit_in_size(Input& in, const JsonValue& v, uint64_t& out) {
    return in.read_size(v, out);
}
Result<void> visit_in_bool(Input& in, const JsonValue& v, bool& out) { return in.read_bool(v, out); }
Result<void> visit_in_number(Input& in, const JsonValue& v, double& out) {
    return in.read_number(v, out);
}
Result<void> visit_in_str(Input& in, const JsonValue& v, std::string& out) {
    return in.read_str(v, out);
}
Result<void> visit_in_null(Input& in, const JsonValue& v, std::nullptr_t&) { return in.read_null(v); }
Result<void> visit_in_any(Input& in, const JsonValue& v, Json& out) { return in.read_any(v, out); }

void visit_out_int(Output& out, int64_t v) { out.w.int64(v); }
void visit_out_int8(Output& out, int8_t v) { out.w.int64(v); }
void visit_out_int16(Output& out, int16_t v) { out.w.int64(v); }
void visit_out_int32(Output& out, int32_t v) { out.w.int64(v); }
void visit_out_int64(Output& out, int64_t v) { out.w.int64(v); }
void visit_out_uint8(Output& out, uint8_t v) { out.w.uint64(v); }
void visit_out_uint16(Output& out, uint16_t v) { out.w.uint64(v); }
void visit_out_uint32(Output& out, uint32_t v) { out.w.uint64(v); }
void visit_out_uint64(Output& out, uint64_t v) { out.w.uint64(v); }
void visit_out_size(Output& out, uint64_t v) { out.w.uint64(v); }
void visit_out_bool(Output& out, bool v) { out.w.boolean(v); }
void visit_out_number(Output& out, double v) { out.w.number(v); }
void visit_out_str(Output& out, const std::string& v) { out.w.string(v); }
void visit_out_null(Output& out, std::nullptr_t) { out.w.null(); }
void visit_out_any(Output& out, const Json& v) { out.w.value(v.value()); }

}  // namespace molt
