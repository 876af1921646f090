// The QEMU-dialect JSON lexer, streamer and parser; see json_parser.h.
#include "runtime/json_parser.h"

#include <charconv>
#include <optional>
#include <cstdlib>
#include <unordered_set>

namespace molt {

namespace {

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_structural(unsigned char c) {
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':';
}

bool is_noncharacter(long cp) {
    return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

void append_utf8(std::string& out, long cp) {
    if (cp == 0) {
        out += "\xC0\x80";  // modified UTF-8, as QEMU
    } else if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Parses the tokens of one top-level value.
class Parser {
public:
    using Tok = std::pair<JsonStreamParser::Token, std::string>;
    Parser(const std::vector<Tok>& toks, JsonAllocator& alloc) : m_toks(toks), m_alloc(alloc) {}

    Result<void> parse(JsonValue& out) {
        MOLT_TRY(value(out));
        if (m_pos < m_toks.size()) return fail("expecting value");
        return ok();
    }

private:
    using T = JsonStreamParser::Token;

    static Error fail(std::string_view what) {
        return Error("JSON parse error, " + std::string(what));
    }
    const Tok* next() { return m_pos < m_toks.size() ? &m_toks[m_pos++] : nullptr; }
    const Tok* peek() const { return m_pos < m_toks.size() ? &m_toks[m_pos] : nullptr; }

    Result<void> value(JsonValue& out) {
        const Tok* t = next();
        if (!t) return fail("premature EOI");
        switch (t->first) {
        case T::LCurly: return object(out);
        case T::LSquare: return array(out);
        case T::String: return string(t->second, out);
        case T::Integer: return integer(t->second, out);
        case T::Float: return floating(t->second, out);
        case T::Keyword:
            if (t->second == "true") out.SetBool(true);
            else if (t->second == "false") out.SetBool(false);
            else if (t->second == "null") out.SetNull();
            else return fail("invalid keyword '" + t->second + "'");
            return ok();
        default:
            return fail("expecting value");
        }
    }

    Result<void> object(JsonValue& out) {
        out.SetObject();
        const Tok* t = peek();
        if (!t) return fail("premature EOI");
        if (t->first == T::RCurly) {
            m_pos++;
            return ok();
        }
        std::unordered_set<std::string> keys;  // only for big objects
        for (;;) {
            // The key is parsed as any value first, as QEMU does, so that
            // e.g. {foo: 1} says "invalid keyword 'foo'".
            if (!peek()) return fail("premature EOI");
            JsonValue key;
            MOLT_TRY(value(key));
            if (!key.IsString()) return fail("key is not a string in object");
            const Tok* colon = next();
            if (!colon) return fail("premature EOI");
            if (colon->first != T::Colon) return fail("missing : in object pair");
            JsonValue val;
            MOLT_TRY(value(val));
            if (is_duplicate(out, key, keys)) return fail("duplicate key");
            out.AddMember(key, val, m_alloc);
            const Tok* sep = next();
            if (!sep) return fail("premature EOI");
            if (sep->first == T::RCurly) return ok();
            if (sep->first != T::Comma) return fail("expected separator in dict");
        }
    }

    // Small objects are searched; big ones get a set of names.
    static bool is_duplicate(const JsonValue& obj, const JsonValue& key,
                             std::unordered_set<std::string>& keys) {
        constexpr rapidjson::SizeType kLinear = 16;
        std::string name(key.GetString(), key.GetStringLength());
        if (obj.MemberCount() < kLinear) return obj.FindMember(key) != obj.MemberEnd();
        if (keys.empty()) {
            for (auto& m : obj.GetObject()) keys.emplace(m.name.GetString(), m.name.GetStringLength());
        }
        return !keys.insert(std::move(name)).second;
    }

    Result<void> array(JsonValue& out) {
        out.SetArray();
        const Tok* t = peek();
        if (!t) return fail("premature EOI");
        if (t->first == T::RSquare) {
            m_pos++;
            return ok();
        }
        for (;;) {
            JsonValue elem;
            MOLT_TRY(value(elem));
            out.PushBack(elem, m_alloc);
            const Tok* sep = next();
            if (!sep) return fail("premature EOI");
            if (sep->first == T::RSquare) return ok();
            if (sep->first != T::Comma) return fail("expected separator in list");
        }
    }

    // Four hex digits at text[i..i+4), or -1.
    static long hex4(std::string_view text, size_t i) {
        if (i + 4 > text.size()) return -1;
        long v = 0;
        for (size_t k = i; k < i + 4; k++) {
            char c = text[k];
            int d = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        return v;
    }

    static bool is_valid_codepoint(long cp) {
        return cp >= 0 && cp <= 0x10FFFF && !is_noncharacter(cp) && !(cp >= 0xD800 && cp <= 0xDFFF);
    }

    // Decodes a \u escape at token[i] (the backslash) into s; returns the
    // index after it.  A surrogate pair is one escape; on failure QEMU shows
    // the escape as the bytes it has stepped over: six (twelve for a pair
    // that decodes to a noncharacter), into the closing quote if short.
    static Result<size_t> unicode_escape(std::string_view token, size_t i, std::string& s) {
        long cp = hex4(token, i + 2);
        size_t end = i + 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && token.substr(end, 2) == "\\u") {
            long trailing = hex4(token, end + 2);
            if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
                cp = 0x10000 + ((cp & 0x3FF) << 10) + (trailing & 0x3FF);
                end += 6;
            } else {
                cp = -1;
            }
        }
        if (!is_valid_codepoint(cp)) {
            return fail(std::string(token.substr(i, end - i)) + " is not a valid Unicode character");
        }
        append_utf8(s, cp);
        return end;
    }

    // Decodes a string token (with its quotes) into out.
    Result<void> string(const std::string& token, JsonValue& out) {
        std::string_view text(token);
        size_t last = text.size() - 1;  // the closing quote
        std::string s;
        s.reserve(text.size());
        size_t i = 1;
        while (i < last) {
            if (text[i] != '\\') {
                size_t start = i;
                if (mod_utf8_codepoint(text.substr(0, last), i) < 0) {
                    return fail("invalid UTF-8 sequence in string");
                }
                s.append(text.substr(start, i - start));
                continue;
            }
            const char* simple = nullptr;
            switch (text[i + 1]) {  // the lexer puts a character after '\\'
            case '"': simple = "\""; break;
            case '\'': simple = "'"; break;
            case '\\': simple = "\\"; break;
            case '/': simple = "/"; break;
            case 'b': simple = "\b"; break;
            case 'f': simple = "\f"; break;
            case 'n': simple = "\n"; break;
            case 'r': simple = "\r"; break;
            case 't': simple = "\t"; break;
            case 'u': i = MOLT_TRY(unicode_escape(text, i, s)); continue;
            default: return fail("invalid escape sequence in string");
            }
            s += simple;
            i += 2;
        }
        out.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), m_alloc);
        return ok();
    }

    Result<void> integer(const std::string& text, JsonValue& out) {
        const char* b = text.data();
        const char* e = b + text.size();
        int64_t i64;
        auto r = std::from_chars(b, e, i64);
        if (r.ec == std::errc() && r.ptr == e) {
            out.SetInt64(i64);
            return ok();
        }
        if (text[0] != '-') {
            uint64_t u64;
            r = std::from_chars(b, e, u64);
            if (r.ec == std::errc() && r.ptr == e) {
                out.SetUint64(u64);
                return ok();
            }
        }
        return floating(text, out);
    }

    Result<void> floating(const std::string& text, JsonValue& out) {
        double d = 0;
        auto r = std::from_chars(text.data(), text.data() + text.size(), d);
        if (r.ec == std::errc::result_out_of_range) {
            d = std::strtod(text.c_str(), nullptr);  // +-HUGE_VAL or 0, as QEMU
        }
        out.SetDouble(d);
        return ok();
    }

    const std::vector<Tok>& m_toks;
    JsonAllocator& m_alloc;
    size_t m_pos = 0;
};

}  // namespace

JsonStreamParser::JsonStreamParser(Emit emit, JsonLimits limits)
    : m_emit(std::move(emit)), m_limits(limits) {}

void JsonStreamParser::reset() {
    m_state = State::Start;
    m_text.clear();
    reset_message();
}

void JsonStreamParser::reset_message() {
    m_tokens.clear();
    m_bytes = 0;
    m_braces = 0;
    m_brackets = 0;
}

void JsonStreamParser::feed(std::string_view bytes) {
    for (char c : bytes) {
        feed_byte(static_cast<unsigned char>(c));
        // A token may not grow without bound while it is being lexed either
        // (json-lexer.c): it is dropped, and lexing starts afresh.
        if (m_text.size() > m_limits.max_token_bytes) {
            m_text.clear();
            m_state = State::Start;
            emit_error("JSON token size limit exceeded");
        }
    }
}

void JsonStreamParser::emit_error(std::string message) {
    reset_message();
    m_emit(Error(std::move(message)));
}

void JsonStreamParser::lex_error() {
    // QEMU formats the token with %s: a NUL byte ends it.
    std::string text = m_text.substr(0, m_text.find('\0'));
    m_text.clear();
    m_state = State::Recovery;
    emit_error("JSON parse error, stray '" + text + "'");
}

void JsonStreamParser::token(Token type) {
    Tok tok{type, std::move(m_text)};
    m_text.clear();
    m_state = State::Start;
    queue(std::move(tok));
}

void JsonStreamParser::queue(Tok tok) {
    switch (tok.type) {
    case Token::LCurly: m_braces++; break;
    case Token::RCurly: m_braces--; break;
    case Token::LSquare: m_brackets++; break;
    case Token::RSquare: m_brackets--; break;
    default: break;
    }
    if (m_bytes + tok.text.size() + 1 > m_limits.max_token_bytes) {
        return emit_error("JSON token size limit exceeded");
    }
    if (m_tokens.size() + 1 > m_limits.max_tokens) {
        return emit_error("JSON token count limit exceeded");
    }
    if (m_braces + m_brackets > static_cast<long>(m_limits.max_depth)) {
        return emit_error("JSON nesting depth limit exceeded");
    }
    m_bytes += tok.text.size();
    m_tokens.push_back(std::move(tok));
    if ((m_braces > 0 || m_brackets > 0) && m_braces >= 0 && m_brackets >= 0) return;
    parse_queued();
}

void JsonStreamParser::parse_queued() {
    std::vector<Parser::Tok> toks;
    toks.reserve(m_tokens.size());
    for (auto& t : m_tokens) toks.emplace_back(t.type, std::move(t.text));
    reset_message();
    Json result;
    Parser parser(toks, result.allocator());
    auto r = parser.parse(result.value());
    if (!r) return m_emit(std::move(r).error());
    m_emit(std::move(result));
}

void JsonStreamParser::feed_byte(unsigned char c) {
    for (;;) {  // loops only to re-examine c after a token that ends before it
        switch (m_state) {
        case State::Recovery:
            // Structural characters, control characters other than tab and
            // the bytes 0xFE, 0xFF end recovery and are lexed again: the
            // latter are then stray themselves (QEMU's IN_RECOVERY).
            if (is_structural(c) || (c < 0x20 && c != '\t') || c >= 0xFE) {
                m_state = State::Start;
                continue;
            }
            return;
        case State::Start:
            if (is_space(c)) return;
            m_text += static_cast<char>(c);
            switch (c) {
            case '{': return token(Token::LCurly);
            case '}': return token(Token::RCurly);
            case '[': return token(Token::LSquare);
            case ']': return token(Token::RSquare);
            case ',': return token(Token::Comma);
            case ':': return token(Token::Colon);
            case '"':
            case '\'':
                m_quote = static_cast<char>(c);
                m_state = State::String;
                return;
            case '-': m_state = State::Minus; return;
            case '0': m_state = State::Zero; return;
            default: break;
            }
            if (c >= '1' && c <= '9') m_state = State::Int;
            else if (c >= 'a' && c <= 'z') m_state = State::Keyword;
            else lex_error();
            return;
        case State::String:
            m_text += static_cast<char>(c);
            if (c == static_cast<unsigned char>(m_quote)) return token(Token::String);
            if (c == '\\') m_state = State::Escape;
            else if (c < 0x20 || c >= 0xFE) lex_error();
            return;
        case State::Escape:
            m_text += static_cast<char>(c);
            if (c < 0x20 || c >= 0xFE) return lex_error();
            m_state = State::String;
            return;
        case State::Minus:
            m_text += static_cast<char>(c);
            if (c == '0') m_state = State::Zero;
            else if (c >= '1' && c <= '9') m_state = State::Int;
            else lex_error();
            return;
        case State::Zero:
        case State::Int:
            if (is_digit(c) && m_state == State::Int) {
                m_text += static_cast<char>(c);
                return;
            }
            if (c == '.' || c == 'e' || c == 'E' || is_digit(c)) {
                m_text += static_cast<char>(c);
                if (c == '.') m_state = State::FracDot;
                else if (c == 'e' || c == 'E') m_state = State::Exp;
                else lex_error();  // a digit after a leading 0
                return;
            }
            token(Token::Integer);
            continue;
        case State::FracDot:
            m_text += static_cast<char>(c);
            if (is_digit(c)) m_state = State::Frac;
            else lex_error();
            return;
        case State::Frac:
            if (is_digit(c)) {
                m_text += static_cast<char>(c);
                return;
            }
            if (c == 'e' || c == 'E') {
                m_text += static_cast<char>(c);
                m_state = State::Exp;
                return;
            }
            token(Token::Float);
            continue;
        case State::Exp:
            m_text += static_cast<char>(c);
            if (c == '+' || c == '-') m_state = State::ExpSign;
            else if (is_digit(c)) m_state = State::ExpDigits;
            else lex_error();
            return;
        case State::ExpSign:
            m_text += static_cast<char>(c);
            if (is_digit(c)) m_state = State::ExpDigits;
            else lex_error();
            return;
        case State::ExpDigits:
            if (is_digit(c)) {
                m_text += static_cast<char>(c);
                return;
            }
            token(Token::Float);
            continue;
        case State::Keyword:
            if (c >= 'a' && c <= 'z') {
                m_text += static_cast<char>(c);
                return;
            }
            token(Token::Keyword);
            continue;
        }
    }
}

void JsonStreamParser::flush() {
    switch (m_state) {
    case State::Zero:
    case State::Int: token(Token::Integer); break;
    case State::Frac:
    case State::ExpDigits: token(Token::Float); break;
    case State::Keyword: token(Token::Keyword); break;
    case State::Start:
    case State::Recovery: m_state = State::Start; break;
    default: lex_error(); m_state = State::Start; break;
    }
    // Unbalanced: parse what there is (normally "premature EOI").
    if (!m_tokens.empty()) parse_queued();
}

Result<Json> Json::parse(std::string_view text, const JsonLimits& limits) {
    std::optional<Result<Json>> first;
    bool extra = false;
    JsonStreamParser parser(
        [&](Result<Json> r) {
            if (!first) first.emplace(std::move(r));
            else extra = true;
        },
        limits);
    parser.feed(text);
    parser.flush();
    if (!first) return Error("Expecting a JSON value");
    if (!*first) return std::move(*first).error();
    if (extra) return Error("Expecting at most one JSON value");
    return std::move(**first);
}

}  // namespace molt
