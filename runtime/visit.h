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

// The location of the value being visited, for error messages.
class VisitPath {
public:
    explicit VisitPath(InputMode mode = InputMode::Json) : m_mode(mode) {}

    class [[nodiscard]] Scope {
    public:
        explicit Scope(VisitPath& path) : m_path(path) {}
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
        ~Scope() { m_path.m_segs.pop_back(); }

    private:
        VisitPath& m_path;
    };

    // Enters member `name` (a string that outlives the scope) or element i.
    Scope member(std::string_view name) {
        m_segs.push_back({name, 0, false});
        return Scope(*this);
    }
    Scope element(size_t index) {
        m_segs.push_back({{}, index, true});
        return Scope(*this);
    }

    // "a.b[2]" (keyval: "a.b.2"); "<anonymous>" at the root.
    std::string str() const;

    Error missing() const;
    Error unexpected() const;
    Error expects(std::string_view description) const;
    Error invalid_type(std::string_view expected) const;

private:
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
    const CompatPolicy& m_policy;
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
    const CompatPolicy& m_policy;
};

// --- visit_in / visit_out for built-in types --------------------------------

template <class Int>
    requires(std::is_integral_v<Int> && !std::is_same_v<Int, bool>)
Result<void> visit_in(Input& in, const JsonValue& v, Int& out) {
    constexpr std::string_view kNames[2][4] = {{"uint8_t", "uint16_t", "uint32_t", "uint64"},
                                               {"int8_t", "int16_t", "int32_t", "int64"}};
    constexpr int kIndex = sizeof(Int) == 1 ? 0 : sizeof(Int) == 2 ? 1 : sizeof(Int) == 4 ? 2 : 3;
    if constexpr (std::is_signed_v<Int>) {
        int64_t x = 0;
        MOLT_TRY(in.read_int(v, x, std::numeric_limits<Int>::min(),
                             std::numeric_limits<Int>::max(), kNames[1][kIndex]));
        out = static_cast<Int>(x);
    } else {
        uint64_t x = 0;
        MOLT_TRY(in.read_uint(v, x, std::numeric_limits<Int>::max(), kNames[0][kIndex]));
        out = static_cast<Int>(x);
    }
    return ok();
}
inline Result<void> visit_in(Input& in, const JsonValue& v, bool& out) { return in.read_bool(v, out); }
inline Result<void> visit_in(Input& in, const JsonValue& v, double& out) {
    return in.read_number(v, out);
}
inline Result<void> visit_in(Input& in, const JsonValue& v, std::string& out) {
    return in.read_str(v, out);
}
inline Result<void> visit_in(Input& in, const JsonValue& v, std::nullptr_t&) {
    return in.read_null(v);
}
inline Result<void> visit_in(Input& in, const JsonValue& v, Json& out) { return in.read_any(v, out); }

// The schema type `size` is a uint64_t too; it has its own name.
inline Result<void> visit_in_size(Input& in, const JsonValue& v, uint64_t& out) {
    return in.read_size(v, out);
}

template <class E>
    requires std::is_enum_v<E>
Result<void> visit_in(Input& in, const JsonValue& v, E& out) {
    int i = MOLT_TRY(in.read_enum(v, enum_lookup(E{})));
    out = static_cast<E>(i);
    return ok();
}

template <class T>
Result<void> visit_in(Input& in, const JsonValue& v, Box<T>& out) {
    return visit_in(in, v, out.emplace());
}

// A list whose elements are read by read(in, value, element).
template <class T, class Read>
Result<void> visit_in_list(Input& in, const JsonValue& v, std::vector<T>& out, Read read) {
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

template <class T>
Result<void> visit_in(Input& in, const JsonValue& v, std::vector<T>& out) {
    return visit_in_list(in, v, out, [](Input& i, const JsonValue& e, T& x) {
        return visit_in(i, e, x);
    });
}

inline Result<void> visit_in_size(Input& in, const JsonValue& v, std::vector<uint64_t>& out) {
    return visit_in_list(in, v, out, [](Input& i, const JsonValue& e, uint64_t& x) {
        return visit_in_size(i, e, x);
    });
}

template <class Int>
    requires(std::is_integral_v<Int> && !std::is_same_v<Int, bool>)
void visit_out(Output& out, Int v) {
    if constexpr (std::is_signed_v<Int>) out.w.int64(v);
    else out.w.uint64(v);
}
inline void visit_out(Output& out, bool v) { out.w.boolean(v); }
inline void visit_out(Output& out, double v) { out.w.number(v); }
inline void visit_out(Output& out, const std::string& v) { out.w.string(v); }
inline void visit_out(Output& out, std::nullptr_t) { out.w.null(); }
inline void visit_out(Output& out, const Json& v) { out.w.value(v.value()); }

template <class E>
    requires std::is_enum_v<E>
void visit_out(Output& out, E v) {
    out.w.string(enum_lookup(v).name(static_cast<int>(v)));
}

template <class T>
void visit_out(Output& out, const Box<T>& v) {
    if (v.has_value()) visit_out(out, *v);
    else out.w.null();  // only a programming error leaves a required box empty
}

template <class T>
void visit_out(Output& out, const std::vector<T>& v) {
    out.w.begin_array();
    for (const auto& e : v) visit_out(out, e);
    out.w.end_array();
}

// --- validation of built-in values (nothing to check) -----------------------

template <class T>
    requires(std::is_arithmetic_v<T> || std::is_enum_v<T>)
Result<void> validate(VisitPath&, const T&) { return ok(); }
inline Result<void> validate(VisitPath&, const std::string&) { return ok(); }
inline Result<void> validate(VisitPath&, const Json&) { return ok(); }
inline Result<void> validate(VisitPath&, std::nullptr_t) { return ok(); }

template <class T>
Result<void> validate(VisitPath& path, const Box<T>& v) {
    return v.has_value() ? validate(path, *v) : ok();
}

template <class T>
Result<void> validate(VisitPath& path, const std::vector<T>& v) {
    for (size_t i = 0; i < v.size(); i++) {
        auto scope = path.element(i);
        MOLT_TRY(validate(path, v[i]));
    }
    return ok();
}

// --- entry points -------------------------------------------------------------

// A T from a JSON value (QMP-style strict typing).
template <class T>
Result<T> from_json(const JsonValue& v, const CompatPolicy& policy = CompatPolicy{}) {
    Input in(InputMode::Json, policy);
    T out{};
    MOLT_TRY(visit_in(in, v, out));
    return out;
}

// A T from JSON text.
template <class T>
Result<T> from_json_text(std::string_view text) {
    Json j = MOLT_TRY(Json::parse(text));
    return from_json<T>(j.value());
}

// A T from a keyval string (KEY=VALUE,...; strings coerced to the types).
template <class T>
Result<T> from_keyval(std::string_view text, std::string_view implied_key = {}) {
    Json tree = MOLT_TRY(keyval_parse(text, implied_key));
    Input in(InputMode::Keyval);
    T out{};
    MOLT_TRY(visit_in(in, tree.value(), out));
    return out;
}

// QEMU's qobject_input_visitor_new_str: JSON if text starts with '{',
// else keyval.
template <class T>
Result<T> from_str(std::string_view text, std::string_view implied_key = {}) {
    if (!text.empty() && text[0] == '{') return from_json_text<T>(text);
    return from_keyval<T>(text, implied_key);
}

template <class T>
std::string to_json(const T& v, const CompatPolicy& policy = CompatPolicy{},
                    JsonWriter::Style style = JsonWriter::Style::Compact) {
    std::string s;
    JsonWriter w(s, style);
    Output out(w, policy);
    visit_out(out, v);
    return s;
}

// Checks every constraint of the schema on a value built in C++.
template <class T>
Result<void> validate(const T& v) {
    VisitPath path;
    return validate(path, v);
}

}  // namespace molt
