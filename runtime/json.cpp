// Json (owning JSON value) and JsonWriter (QEMU-format output); see json.h.
#include "runtime/json.h"

#include <charconv>
#include <cmath>

namespace molt {

namespace {
// Small first chunks: many Json values (an `any` member each) are tiny.
constexpr size_t kChunkBytes = 1024;

std::unique_ptr<JsonAllocator> new_allocator() {
    return std::make_unique<JsonAllocator>(kChunkBytes);
}
}  // namespace

Json::Json() : m_alloc(new_allocator()) {}

Json::Json(const JsonValue& value) : m_alloc(new_allocator()) {
    m_value.CopyFrom(value, *m_alloc);
}

Json::Json(const Json& other) : Json(other.m_value) {}

Json::Json(Json&& other) noexcept
    : m_alloc(std::move(other.m_alloc)), m_value(std::move(other.m_value)) {
    other.m_alloc = nullptr;
}

Json& Json::operator=(const Json& other) {
    if (this != &other) {
        auto alloc = new_allocator();
        JsonValue copy;
        copy.CopyFrom(other.m_value, *alloc);
        m_value = std::move(copy);
        m_alloc = std::move(alloc);
    }
    return *this;
}

Json& Json::operator=(Json&& other) noexcept {
    if (this != &other) {
        m_value = std::move(other.m_value);
        m_alloc = std::move(other.m_alloc);
    }
    return *this;
}

Json::~Json() = default;

Json Json::object() {
    Json j;
    j.m_value.SetObject();
    return j;
}

Json Json::array() {
    Json j;
    j.m_value.SetArray();
    return j;
}

Json Json::string(std::string_view s) {
    Json j;
    j.m_value.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), *j.m_alloc);
    return j;
}

std::string Json::str() const {
    std::string out;
    JsonWriter w(out);
    w.value(m_value);
    return out;
}

// --- JsonWriter ------------------------------------------------------------

void JsonWriter::newline() {
    m_out += '\n';
    m_out.append(m_first.size() * 4, ' ');
}

void JsonWriter::before_value() {
    if (m_after_key) {
        m_after_key = false;
        return;
    }
    if (m_first.empty()) return;
    if (!m_first.back()) m_out += m_style == Style::Pretty ? "," : ", ";
    m_first.back() = false;
    if (m_style == Style::Pretty) newline();
}

void JsonWriter::begin_object() {
    before_value();
    m_out += '{';
    m_first.push_back(true);
}

void JsonWriter::end_object() {
    bool empty = m_first.back();
    m_first.pop_back();
    if (m_style == Style::Pretty && !empty) newline();
    m_out += '}';
}

void JsonWriter::key(std::string_view name) {
    before_value();
    json_quote(m_out, name);
    m_out += ": ";
    m_after_key = true;
}

void JsonWriter::begin_array() {
    before_value();
    m_out += '[';
    m_first.push_back(true);
}

void JsonWriter::end_array() {
    bool empty = m_first.back();
    m_first.pop_back();
    if (m_style == Style::Pretty && !empty) newline();
    m_out += ']';
}

void JsonWriter::string(std::string_view s) {
    before_value();
    json_quote(m_out, s);
}

void JsonWriter::int64(int64_t v) {
    before_value();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    m_out.append(buf, r.ptr);
}

void JsonWriter::uint64(uint64_t v) {
    before_value();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    m_out.append(buf, r.ptr);
}

void JsonWriter::number(double v) {
    before_value();
    if (!std::isfinite(v)) {  // JSON cannot say it (QEMU prints inf/nan here)
        m_out += "null";
        return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
    m_out.append(buf, r.ptr);
}

void JsonWriter::boolean(bool v) {
    before_value();
    m_out += v ? "true" : "false";
}

void JsonWriter::null() {
    before_value();
    m_out += "null";
}

void JsonWriter::raw(std::string_view json) {
    before_value();
    m_out += json;
}

void JsonWriter::value(const JsonValue& v) {
    switch (v.GetType()) {
    case rapidjson::kNullType: null(); break;
    case rapidjson::kFalseType: boolean(false); break;
    case rapidjson::kTrueType: boolean(true); break;
    case rapidjson::kStringType:
        string(std::string_view(v.GetString(), v.GetStringLength()));
        break;
    case rapidjson::kNumberType:
        if (v.IsInt64()) int64(v.GetInt64());
        else if (v.IsUint64()) uint64(v.GetUint64());
        else number(v.GetDouble());
        break;
    case rapidjson::kObjectType:
        begin_object();
        for (auto& m : v.GetObject()) {
            key(std::string_view(m.name.GetString(), m.name.GetStringLength()));
            value(m.value);
        }
        end_object();
        break;
    case rapidjson::kArrayType:
        begin_array();
        for (auto& e : v.GetArray()) value(e);
        end_array();
        break;
    }
}

// --- string escaping -------------------------------------------------------

namespace {

void append_u(std::string& out, long cp) {
    static const char kHex[] = "0123456789ABCDEF";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
}

}  // namespace

long mod_utf8_codepoint(std::string_view s, size_t& i) {
    static const long kMin[] = {0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    auto byte = static_cast<unsigned char>(s[i++]);
    if (byte < 0x80) return byte;
    if (byte >= 0xFE || !(byte & 0x40)) return -1;  // 0xFE, 0xFF, continuation
    size_t len = 0;
    unsigned mask = 0x80;
    for (; byte & mask; mask >>= 1) len++;
    long cp = byte & (mask - 1);
    for (size_t k = 1; k < len; k++) {
        if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
    }
    bool valid = cp <= 0x10FFFF && !(cp >= 0xFDD0 && cp <= 0xFDEF) && (cp & 0xFFFE) != 0xFFFE &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!valid || (cp < kMin[len - 2] && !(cp == 0 && len == 2))) return -1;
    return cp;
}

void json_quote(std::string& out, std::string_view s) {
    out += '"';
    size_t i = 0;
    while (i < s.size()) {
        long cp = mod_utf8_codepoint(s, i);
        switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        default: break;
        }
        if (cp < 0) cp = 0xFFFD;
        if (cp >= 0x20 && cp < 0x7F) {
            out += static_cast<char>(cp);
        } else if (cp >= 0x10000) {
            cp -= 0x10000;
            append_u(out, 0xD800 | (cp >> 10));
            append_u(out, 0xDC00 | (cp & 0x3FF));
        } else {
            append_u(out, cp);
        }
    }
    out += '"';
}

}  // namespace molt
