// Helpers shared by the doctest executables in tests/unit: reading the
// vector files of tests/vectors (named by the MOLT_VECTORS environment
// variable, set by tests/unit/meson.build) and the typed round trip that
// the visitor tests run on every vector.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include <doctest/doctest.h>

#include "runtime/json.h"
#include "runtime/visit.h"

namespace molt::test {

// The text of tests/vectors/NAME.
inline std::string read_vectors(const char* name) {
    const char* dir = std::getenv("MOLT_VECTORS");
    REQUIRE_MESSAGE(dir, "MOLT_VECTORS must name tests/vectors");
    std::ifstream in(std::string(dir) + "/" + name);
    REQUIRE_MESSAGE(in, "cannot open " << dir << "/" << name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// tests/vectors/NAME parsed; it must be a JSON array.
inline Json load_vectors(const char* name) {
    auto json = Json::parse(read_vectors(name));
    REQUIRE_MESSAGE(json, json.error().message());
    REQUIRE(json->value().IsArray());
    return std::move(*json);
}

// The typed trip: text (a JSON string is keyval, anything else JSON) -> T
// -> JSON -> T again; both values must be equal and serialise alike.
// Returns the JSON, or "error: MESSAGE".
template <class T>
std::string typed_trip(const JsonValue& input) {
    Result<T> first = input.IsString()
                          ? from_keyval<T>(std::string_view(input.GetString(),
                                                            input.GetStringLength()))
                          : from_json<T>(input);
    if (!first) return "error: " + first.error().message();
    std::string text = to_json(*first);
    auto reparsed = Json::parse(text);
    REQUIRE(reparsed);
    auto second = from_json<T>(reparsed->value());
    REQUIRE_MESSAGE(second, text);
    CHECK(*second == *first);
    CHECK(to_json(*second) == text);
    return text;
}

using TypedTrip = std::string (*)(const JsonValue&);

// The string member KEY of a vector object (it must be there).
inline std::string member_string(const JsonValue& v, const char* key) {
    auto it = v.FindMember(key);
    REQUIRE(it != v.MemberEnd());
    REQUIRE(it->value.IsString());
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

// One round-trip vector {"type", "input", "output"? | "error"?}: the input
// (a string is keyval text, anything else JSON) and what every path must
// give: the output JSON (default: the input itself), or "error: MESSAGE".
struct TripVector {
    std::string type;
    const JsonValue* input;
    std::string input_text;
    std::string expected;
    bool is_error;
};

inline TripVector read_trip_vector(const JsonValue& vec, size_t index) {
    TripVector t{member_string(vec, "type"), &vec["input"], {}, {}, vec.HasMember("error")};
    const JsonValue& input = *t.input;
    t.input_text = input.IsString() ? std::string(input.GetString(), input.GetStringLength())
                                    : Json(input).str();
    if (t.is_error) {
        t.expected = "error: " + member_string(vec, "error");
    } else {
        REQUIRE_MESSAGE((vec.HasMember("output") || !input.IsString()),
                        "keyval vector " << index << " needs an output");
        t.expected = Json(vec.HasMember("output") ? vec["output"] : input).str();
    }
    return t;
}

}  // namespace molt::test
