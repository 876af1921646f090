// String -> typed value conversions with QEMU's rules; see coerce.h.
#include "runtime/coerce.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

// QEMU 8.1's qemu_strtosz: a decimal integer (leading space, no sign
// but '+'), or 0x hex without fraction or suffix; a fraction is read with
// strtod (an 'e' there is the exabyte suffix, not an exponent) and kept as
// a 64-bit binary fraction, so that the result is QEMU's to the byte:
// value * unit + fraction * unit, rounded half up, at most 2^64-1.
std::optional<uint64_t> parse_size(std::string_view s) {
    CString c(s);
    const char* nptr = c.begin();
    char* end = nullptr;
    errno = 0;
    unsigned long long whole = std::strtoull(nptr, &end, 10);
    if (errno == ERANGE) return std::nullopt;
    bool parsed = end != nptr;
    const char* p = nptr;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    if (parsed && *p == '-') return std::nullopt;
    uint64_t val = parsed ? whole : 0;
    uint64_t valf = 0;  // fraction, in units of 2^-64

    if (parsed && val == 0 && (*end == 'x' || *end == 'X')) {
        errno = 0;
        val = std::strtoull(nptr, &end, 16);
        if (errno == ERANGE || *end == '.' || suffix_shift(*end) >= 0) return std::nullopt;
    } else if (*end == '.' || (!parsed && std::strchr(nptr, '.'))) {
        double fraction = 0.0;
        if (parsed && *end == '.' && !(end[1] >= '0' && end[1] <= '9')) {
            end++;  // "1.k": no fraction digits
        } else {
            std::string copy(end);
            copy.resize(std::min(copy.find_first_of("eE"), copy.size()));
            char* tail = nullptr;
            errno = 0;
            fraction = std::strtod(copy.c_str(), &tail);
            bool underflow = errno == ERANGE;
            if (tail == copy.c_str() || !std::isfinite(fraction)) return std::nullopt;
            if (std::signbit(fraction)) return std::nullopt;
            end += tail - copy.c_str();
            if (underflow) valf = 1;  // tiny, but not zero
        }
        if (fraction == 1.0) {  // 0.99999999999999999 rounds up
            if (val == UINT64_MAX) return std::nullopt;
            val++;
        } else if (valf == 0) {
            valf = static_cast<uint64_t>(fraction * 0x1p64);
            if (valf == 0 && fraction > 0.0) valf = 1;
        }
    } else if (!parsed) {
        return std::nullopt;
    }

    int shift = suffix_shift(*end);
    if (shift >= 0) end++;
    if (*end || end != c.end()) return std::nullopt;
    if (shift <= 0) {
        if (valf != 0) return std::nullopt;  // a fraction needs a unit
        return val;
    }
    // 64.64 fixed point times 2^shift, rounded half up.
    unsigned __int128 frac = static_cast<unsigned __int128>(valf) << shift;
    unsigned __int128 total = (static_cast<unsigned __int128>(val) << shift) + (frac >> 64) +
                              (static_cast<uint64_t>(frac) >> 63);
    if (total > UINT64_MAX) return std::nullopt;
    return static_cast<uint64_t>(total);
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
