// Visitors: how generated code reads and writes typed values.
//
// Input walks a JSON tree into C++ values in one of two modes: Json (QMP
// arguments: values must have the right JSON type) or Keyval (a keyval
// tree: every scalar is a string and is coerced, coerce.h).  Output writes
// C++ values as JSON.  Both apply the -compat policy for deprecated and
// unstable members.  Errors name the value by its full path ("a.b[2].c";
// keyval lists as "a.b.2.c") with QEMU's message forms:
//   Parameter 'P' is missing / is unexpected / expects DESCRIPTION
//   Invalid parameter type for 'P', expected: TYPE
// The generated code (codegen/templates/visit.*.j2) calls visit_in /
// visit_out for every type; this header provides them for built-in types,
// enums, lists and boxes, plus the entry points from_json, from_keyval,
// from_str and to_json.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/box.h"
#include "runtime/enum_lookup.h"
#include "runtime/json.h"
#include "runtime/keyval.h"
#include "runtime/result.h"

namespace molt {

enum class InputMode { Json, Keyval };

// What -compat says about deprecated and unstable interfaces.
enum class CompatInput { Accept, Reject, Crash };
enum class CompatOutput { Accept, Hide };
struct CompatPolicy {
    CompatInput deprecated_input = CompatInput::Accept;
    CompatOutput deprecated_output = CompatOutput::Accept;
    CompatInput unstable_input = CompatInput::Accept;
    CompatOutput unstable_output = CompatOutput::Accept;
};

// QEMU's compat_policy_input_ok(): refuses an input whose special
// features (kFeatureDeprecated, kFeatureUnstable) the policy rejects, with
// "Deprecated|Unstable WHAT disabled by policy" (WHAT: "parameter a.b",
// "command foo"); aborts the process for 'crash'.
Result<void> compat_input_ok(unsigned special, const CompatPolicy& policy, std::string_view what,
                             ErrorClass cls = ErrorClass::GenericError);

// The location of the value being visited, for error messages.
class VisitPath {
public:
    explicit VisitPath(InputMode mode = InputMode::Json) : m_mode(mode) {}

    class [[nodiscard]] Scope {
    public:
        explicit Scope(VisitPath& path) : m_path(path) {}
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
        ~Scope() { m_path.pop(); }

    private:
        VisitPath& m_path;
    };

    // Enters member `name` (a string that outlives the scope) or element i.
    // Out of line: generated code calls these for every member.
    Scope member(std::string_view name);
    Scope element(size_t index);

    // "a.b[2]" (keyval: "a.b.2"); "<anonymous>" at the root.
    std::string str() const;

    Error missing() const;
    Error unexpected() const;
    Error expects(std::string_view description) const;
    Error invalid_type(std::string_view expected) const;

private:
    void pop();

    struct Seg {
        std::string_view name;
        size_t index;
        bool is_index;
    };
    InputMode m_mode;
    std::vector<Seg> m_segs;
};

// The JSON type of a value, as alternates dispatch on it.
enum class JsonKind { Null, Bool, Number, String, Object, Array };

class Input {
public:
    explicit Input(InputMode mode, const CompatPolicy& policy = CompatPolicy{})
        : m_mode(mode), m_policy(policy), m_path(mode) {}

    InputMode mode() const { return m_mode; }
    VisitPath& path() { return m_path; }
    const CompatPolicy& policy() const { return m_policy; }

    // An object being visited: remembers which members were taken, so that
    // end_object() can reject the others.
    class Object {
    public:
        // The value of member key, or nullptr; marks it as taken.
        const JsonValue* take(std::string_view key);

    private:
        friend class Input;
        explicit Object(const JsonValue& obj);
        const JsonValue* m_obj;
        std::vector<bool> m_taken;
    };

    Result<Object> begin_object(const JsonValue& v);
    Result<void> end_object(const Object& obj);
    Result<const JsonValue*> begin_list(const JsonValue& v);
    // "Parameter 'P.name' is missing".
    Error missing(std::string_view name);
    // Applies the compat policy to the member being visited.
    Result<void> member_features(unsigned special);
    JsonKind kind(const JsonValue& v) const;

    // Scalars (the overloads of visit_in below forward here).
    Result<void> read_int(const JsonValue& v, int64_t& out, int64_t min, int64_t max,
                          std::string_view type_name);
    Result<void> read_uint(const JsonValue& v, uint64_t& out, uint64_t max,
                           std::string_view type_name);
    Result<void> read_size(const JsonValue& v, uint64_t& out);
    Result<void> read_bool(const JsonValue& v, bool& out);
    Result<void> read_number(const JsonValue& v, double& out);
    Result<void> read_str(const JsonValue& v, std::string& out);
    Result<void> read_null(const JsonValue& v);
    Result<void> read_any(const JsonValue& v, Json& out);
    Result<int> read_enum(const JsonValue& v, const EnumLookup& lookup);

private:
    // A keyval scalar: the string, or the error for a dict/list.
    Result<std::string_view> keyval_scalar(const JsonValue& v);

    InputMode m_mode;
    CompatPolicy m_policy;  // a copy: callers often pass a temporary
    VisitPath m_path;
};

class Output {
public:
    explicit Output(JsonWriter& writer, const CompatPolicy& policy = CompatPolicy{})
        : w(writer), m_policy(policy) {}

    // True if a member or event with these special features is hidden.
    bool hidden(unsigned special) const {
        return ((special & kFeatureDeprecated) &&
                m_policy.deprecated_output == CompatOutput::Hide) ||
               ((special & kFeatureUnstable) && m_policy.unstable_output == CompatOutput::Hide);
    }
    const CompatPolicy& policy() const { return m_policy; }

    JsonWriter& w;

private:
    CompatPolicy m_policy;  // a copy: callers often pass a temporary
};

// --- built-in types, enums, lists -----------------------------------------
// Generated code calls these by name (never by overload: a schema of QEMU's
// size would make every call resolve among hundreds of candidates).


template <class Int>
Result<void> visit_in_integer(Input& in, const JsonValue& v, Int& out, std::string_view type_name) {
    if constexpr (std::is_signed_v<Int>) {
        int64_t x = 0;
        MOLT_TRY(in.read_int(v, x, std::numeric_limits<Int>::min(), std::numeric_limits<Int>::max(),
                             type_name));
        out = static_cast<Int>(x);
    } else {
        uint64_t x = 0;
        MOLT_TRY(in.read_uint(v, x, std::numeric_limits<Int>::max(), type_name));
        out = static_cast<Int>(x);
    }
    return ok();
}

Result<void> visit_in_int(Input& in, const JsonValue& v, int64_t& out);
Result<void> visit_in_int8(Input& in, const JsonValue& v, int8_t& out);
Result<void> visit_in_int16(Input& in, const JsonValue& v, int16_t& out);
Result<void> visit_in_int32(Input& in, const JsonValue& v, int32_t& out);
Result<void> visit_in_int64(Input& in, const JsonValue& v, int64_t& out);
Result<void> visit_in_uint8(Input& in, const JsonValue& v, uint8_t& out);
Result<void> visit_in_uint16(Input& in, const JsonValue& v, uint16_t& out);
Result<void> visit_in_uint32(Input& in, const JsonValue& v, uint32_t& out);
Result<void> visit_in_uint64(Input& in, const JsonValue& v, uint64_t& out);
Result<void> visit_in_size(Input& in, const JsonValue& v, uint64_t& out);
Result<void> visit_in_bool(Input& in, const JsonValue& v, bool& out);
Result<void> visit_in_number(Input& in, const JsonValue& v, double& out);
Result<void> visit_in_str(Input& in, const JsonValue& v, std::string& out);
Result<void> visit_in_null(Input& in, const JsonValue& v, std::nullptr_t& out);
Result<void> visit_in_any(Input& in, const JsonValue& v, Json& out);

template <class E>
Result<void> visit_in_enum(Input& in, const JsonValue& v, E& out) {
    int i = MOLT_TRY(in.read_enum(v, enum_lookup(E{})));
    out = static_cast<E>(i);
    return ok();
}

// A list whose elements are read by read().
template <class T>
Result<void> visit_in_list(Input& in, const JsonValue& v, std::vector<T>& out,
                           Result<void> (*read)(Input&, const JsonValue&, T&)) {
    const JsonValue* list = MOLT_TRY(in.begin_list(v));
    out.clear();
    out.reserve(list->Size());
    size_t i = 0;
    for (const auto& e : list->GetArray()) {
        auto scope = in.path().element(i++);
        T x{};
        MOLT_TRY(read(in, e, x));
        out.push_back(std::move(x));
    }
    return ok();
}

void visit_out_int(Output& out, int64_t v);
void visit_out_int8(Output& out, int8_t v);
void visit_out_int16(Output& out, int16_t v);
void visit_out_int32(Output& out, int32_t v);
void visit_out_int64(Output& out, int64_t v);
void visit_out_uint8(Output& out, uint8_t v);
void visit_out_uint16(Output& out, uint16_t v);
void visit_out_uint32(Output& out, uint32_t v);
void visit_out_uint64(Output& out, uint64_t v);
void visit_out_size(Output& out, uint64_t v);
void visit_out_bool(Output& out, bool v);
void visit_out_number(Output& out, double v);
void visit_out_str(Output& out, const std::string& v);
void visit_out_null(Output& out, std::nullptr_t v);
void visit_out_any(Output& out, const Json& v);

template <class E>
void visit_out_enum(Output& out, E v) {
    out.w.string(enum_lookup(v).name(static_cast<int>(v)));
}

template <class T, class Write>
void visit_out_list(Output& out, const std::vector<T>& v, Write write) {
    out.w.begin_array();
    for (const auto& e : v) write(out, e);
    out.w.end_array();
}

template <class T>
Result<void> validate_list(VisitPath& path, const std::vector<T>& v,
                           Result<void> (*check)(VisitPath&, const T&)) {
    for (size_t i = 0; i < v.size(); i++) {
        auto scope = path.element(i);
        MOLT_TRY(check(path, v[i]));
    }
    return ok();
}

// The generated functions of a schema type T (structs, unions, alternates):
// the generated visit header specialises this with static members
//   visit_in, visit_out, validate.
template <class T>
struct ApiType;

// --- entry points -------------------------------------------------------------

// A T from a JSON value (QMP-style strict typing).
template <class T>
Result<T> from_json(const JsonValue& v, const CompatPolicy& policy = CompatPolicy{}) {
    Input in(InputMode::Json, policy);
    T out{};
    MOLT_TRY(ApiType<T>::visit_in(in, v, out));
    return out;
}

// Text as QEMU's qobject_input_visitor_new_str reads it: JSON if it
// starts with '{' (strict types), else keyval (strings coerced).
struct ParsedInput {
    Json tree;
    InputMode mode;
};
Result<ParsedInput> parse_input(std::string_view text, std::string_view implied_key = {});

// A T from text (JSON or keyval, as parse_input).
template <class T>
Result<T> from_str(std::string_view text, std::string_view implied_key = {}) {
    ParsedInput p = MOLT_TRY(parse_input(text, implied_key));
    Input in(p.mode);
    T out{};
    MOLT_TRY(ApiType<T>::visit_in(in, p.tree.value(), out));
    return out;
}

// A T from a keyval string (KEY=VALUE,...), even if it starts with '{'.
template <class T>
Result<T> from_keyval(std::string_view text, std::string_view implied_key = {}) {
    Json tree = MOLT_TRY(keyval_parse(text, implied_key));
    Input in(InputMode::Keyval);
    T out{};
    MOLT_TRY(ApiType<T>::visit_in(in, tree.value(), out));
    return out;
}

template <class T>
std::string to_json(const T& v, const CompatPolicy& policy = CompatPolicy{},
                    JsonWriter::Style style = JsonWriter::Style::Compact) {
    std::string s;
    JsonWriter w(s, style);
    Output out(w, policy);
    ApiType<T>::visit_out(out, v);
    return s;
}

// Checks every constraint of the schema on a value built in C++.
template <class T>
Result<void> validate(const T& v) {
    VisitPath path;
    return ApiType<T>::validate(path, v);
}

}  // namespace molt
