// QEMU's JSON dialect, parsed from a byte stream.
//
// A lexer (state machine), a streamer (splits the byte stream into one
// top-level value each, counting braces and brackets, enforcing limits) and
// a recursive-descent parser, as QEMU's json-lexer/streamer/parser.  The
// dialect: RFC 8259 plus 'single-quoted' strings and \' escapes; \u0000 is
// kept as the bytes C0 80; strings must be valid UTF-8 without
// noncharacters.  Errors read as QEMU's ("JSON parse error, stray '@'",
// "JSON nesting depth limit exceeded", ...).  After a lexical error the
// lexer skips to the next structural or control character, so a client can
// resynchronise (QMP clients send 0xFF or a newline); as in QEMU, a control
// character other than whitespace, or 0xFE/0xFF, is then stray itself.  A
// token longer than the token size limit is dropped while still being lexed.
//
//   bytes --feed()--> lexer --tokens--> streamer --one value--> parser --> emit(Result<Json>)
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/json.h"

namespace molt {

class JsonStreamParser {
public:
    using Emit = std::function<void(Result<Json>)>;

    explicit JsonStreamParser(Emit emit, JsonLimits limits = {});

    // Consumes bytes; calls emit once per complete value or error.
    void feed(std::string_view bytes);
    // End of input: finishes a pending token and parses what is queued.
    void flush();
    // Drops partial input (a new connection).
    void reset();

    enum class Token { LCurly, RCurly, LSquare, RSquare, Comma, Colon,
                       String, Integer, Float, Keyword };

private:
    enum class State { Start, String, Escape, Minus, Zero, Int, FracDot, Frac,
                       Exp, ExpSign, ExpDigits, Keyword, Recovery };
    struct Tok {
        Token type;
        std::string text;
    };

    void feed_byte(unsigned char c);
    void token(Token type);
    void lex_error();
    void queue(Tok tok);
    void parse_queued();
    void emit_error(std::string message);
    void reset_message();

    Emit m_emit;
    JsonLimits m_limits;
    State m_state = State::Start;
    char m_quote = '"';
    std::string m_text;  // current token text
    std::vector<Tok> m_tokens;
    size_t m_bytes = 0;
    long m_braces = 0;
    long m_brackets = 0;
};

}  // namespace molt
