// String -> typed value conversions with QEMU's rules; see coerce.h.
#include "runtime/coerce.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace molt {

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "on" || s == "yes" || s == "true" || s == "y") return true;
    if (s == "off" || s == "no" || s == "false" || s == "n") return false;
    return std::nullopt;
}

namespace {

// A NUL-terminated copy for the C library; an embedded NUL makes the
// "whole string" check fail, as it should.
struct CString {
    explicit CString(std::string_view s) : text(s) {}
    const char* begin() const { return text.c_str(); }
    const char* end() const { return text.c_str() + text.size(); }
    std::string text;
};

}  // namespace

std::optional<int64_t> parse_int64(std::string_view s) {
    CString c(s);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(c.begin(), &end, 0);
    if (end == c.begin() || end != c.end() || errno == ERANGE) return std::nullopt;
    return static_cast<int64_t>(v);
}

std::optional<uint64_t> parse_uint64(std::string_view s) {
    CString c(s);
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(c.begin(), &end, 0);
    if (end == c.begin() || end != c.end() || errno == ERANGE) return std::nullopt;
    return static_cast<uint64_t>(v);
}

namespace {

int suffix_shift(char c) {
    switch (c) {
    case 'b': case 'B': return 0;
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
    case 'p': case 'P': return 50;
    case 'e': case 'E': return 60;
    default: return -1;
    }
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view s) {
    CString c(s);
    const char* p = c.begin();
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    if (*p == '-') return std::nullopt;
    if (*p == '+') p++;

    // Hexadecimal: whole number, no fraction, no suffix.
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        char* end = nullptr;
        errno = 0;
        unsigned long long v = std::strtoull(p, &end, 16);
        if (end == p + 2 || end != c.end() || errno == ERANGE) return std::nullopt;
        return static_cast<uint64_t>(v);
    }

    // Integral part (decimal; may be empty when a fraction follows).
    const char* q = p;
    unsigned __int128 whole = 0;
    while (*q >= '0' && *q <= '9') {
        whole = whole * 10 + static_cast<unsigned>(*q - '0');
        if (whole > UINT64_MAX) return std::nullopt;
        q++;
    }
    bool has_int = q != p;

    // Fraction: digits after '.', kept exactly as a decimal string.
    std::string frac;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') frac += *q++;
    }
    if (!has_int && frac.empty()) return std::nullopt;

    int shift = 0;
    if (*q) {
        shift = suffix_shift(*q);
        if (shift < 0) return std::nullopt;
        q++;
    }
    if (*q) return std::nullopt;

    bool frac_nonzero = frac.find_first_not_of('0') != std::string::npos;
    if (shift == 0) {
        if (frac_nonzero) return std::nullopt;  // fractions need a unit
        return static_cast<uint64_t>(whole);
    }
    // value = (whole + 0.frac) * 2^shift, rounded half up, computed exactly:
    // frac/10^n * 2^shift = frac * 2^shift / 10^n (frac limited to 19 digits).
    if (frac.size() > 19) frac.resize(19);
    unsigned __int128 scaled = whole << shift;
    if (scaled > UINT64_MAX) return std::nullopt;
    if (!frac.empty()) {
        unsigned __int128 num = 0, den = 1;
        for (char d : frac) {
            num = num * 10 + static_cast<unsigned>(d - '0');
            den *= 10;
        }
        unsigned __int128 part = ((num << shift) + den / 2) / den;
        scaled += part;
        if (scaled > UINT64_MAX) return std::nullopt;
    }
    return static_cast<uint64_t>(scaled);
}

std::optional<double> parse_number(std::string_view s) {
    CString c(s);
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(c.begin(), &end);
    if (end == c.begin() || end != c.end() || errno == ERANGE || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

}  // namespace molt
