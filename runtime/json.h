// JSON in molt: an owning value type (Json) and a writer in QEMU's format.
//
// Json owns a RapidJSON tree and its allocator; it copies deeply and
// compares by value, so it can be a member of generated types (the schema
// type `any`).  JsonWriter produces the text QEMU produces: compact form
// with ": " and ", ", strings escaped to pure ASCII (\uXXXX for everything
// outside 0x20..0x7E, \uFFFD for invalid UTF-8), integers exact, doubles
// as %.17g; a pretty form indents by four.  Parsing is in json_parser.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/rapidjson.h"
#include "runtime/result.h"

namespace molt {

// Limits on JSON input, QEMU's by default (json-streamer.c).
struct JsonLimits {
    size_t max_token_bytes = size_t{64} << 20;  // all tokens of one value
    size_t max_tokens = size_t{2} << 20;
    unsigned max_depth = 1024;
};

class Json {
public:
    Json();  // JSON null
    explicit Json(const JsonValue& value);  // deep copy
    Json(const Json& other);
    Json(Json&& other) noexcept;
    Json& operator=(const Json& other);
    Json& operator=(Json&& other) noexcept;
    ~Json();

    // Parses exactly one JSON value (QEMU's qobject_from_json: its dialect,
    // its limits and messages, e.g. "JSON parse error, expecting value").
    static Result<Json> parse(std::string_view text, const JsonLimits& limits = {});
    static Json object();
    static Json array();
    static Json string(std::string_view s);

    const JsonValue& value() const { return m_value; }
    JsonValue& value() { return m_value; }
    JsonAllocator& allocator() { return *m_alloc; }

    // Compact text in QEMU's format.
    std::string str() const;

    friend bool operator==(const Json& a, const Json& b) { return a.m_value == b.m_value; }

private:
    std::unique_ptr<JsonAllocator> m_alloc;
    JsonValue m_value;
};

class JsonWriter {
public:
    enum class Style { Compact, Pretty };
    explicit JsonWriter(std::string& out, Style style = Style::Compact)
        : m_out(out), m_style(style) {}

    void begin_object();
    void end_object();
    void key(std::string_view name);
    void begin_array();
    void end_array();
    void string(std::string_view s);
    void int64(int64_t v);
    void uint64(uint64_t v);
    void number(double v);
    void boolean(bool v);
    void null();
    void value(const JsonValue& v);
    // Inserts an already serialized value verbatim.
    void raw(std::string_view json);

private:
    void before_value();
    void newline();

    std::string& m_out;
    Style m_style;
    std::vector<bool> m_first;  // per open container: no element yet
    bool m_after_key = false;
};

// Appends s as a JSON string literal in QEMU's escaping.
void json_quote(std::string& out, std::string_view s);

// Decodes the code point at s[i] as QEMU's mod_utf8_codepoint (util/
// unicode.c) does and advances i past the bytes it consumes: one for a
// stray byte, else the lead byte and every continuation byte that follows,
// up to the sequence length.  Returns -1 for an invalid sequence (overlong,
// surrogate, noncharacter, beyond U+10FFFF, truncated); C0 80 is U+0000
// (modified UTF-8), and a NUL byte is U+0000 too.
long mod_utf8_codepoint(std::string_view s, size_t& i);

}  // namespace molt
