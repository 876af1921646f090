// Unit tests of runtime/coerce: the string -> bool/int64/uint64/size/number
// conversions keyval values go through, with QEMU's rules (qapi_bool_parse,
// qemu_strtoi64/qemu_strtou64 base 0, QEMU 8.1's qemu_strtosz,
// qemu_strtod_finite), and the messages the keyval input visitor builds from
// a failure ("Parameter 'x' expects integer", ...; QEMU 7.2's
// qobject-input-visitor texts, checked with -blockdev).  Sizes follow 8.1,
// which differs from 7.2 on ".5k" and "1.5e3" (now accepted / still
// rejected) and "0x10k" (7.2 accepted it with a deprecation warning).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "runtime/coerce.h"
#include "runtime/json.h"
#include "runtime/visit.h"

using namespace molt;

namespace {

// The message the keyval input visitor gives for member "x" = text, or ""
// if it accepts it.
template <class T>
std::string keyval_error(Result<void> (*read)(Input&, const JsonValue&, T&),
                         std::string_view text) {
    Json v = Json::string(text);
    Input in(InputMode::Keyval);
    auto scope = in.path().member("x");
    T out{};
    auto r = read(in, v.value(), out);
    return r ? std::string() : r.error().message();
}

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kTiB = uint64_t{1} << 40;
constexpr uint64_t kPiB = uint64_t{1} << 50;
constexpr uint64_t kEiB = uint64_t{1} << 60;

}  // namespace

TEST_CASE("bool: the eight spellings, exact case only") {
    for (const char* s : {"on", "yes", "true", "y"}) CHECK(parse_bool(s) == true);
    for (const char* s : {"off", "no", "false", "n"}) CHECK(parse_bool(s) == false);
    for (const char* s : {"ON", "On", "Yes", "TRUE", "Y", "N", "1", "0", "", " on", "on ",
                          "offer", "enable", "t", "f"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_bool(s).has_value());
    }
    CHECK_FALSE(parse_bool(std::string_view("on\0x", 4)).has_value());
    CHECK(keyval_error(visit_in_bool, "1") == "Parameter 'x' expects 'on' or 'off'");
    CHECK(keyval_error(visit_in_bool, "") == "Parameter 'x' expects 'on' or 'off'");
    CHECK(keyval_error(visit_in_bool, "y").empty());
}

TEST_CASE("int64: strtoll base 0 over the whole string") {
    struct Case {
        const char* text;
        int64_t value;
    };
    const Case good[] = {
        {"0", 0}, {"42", 42}, {"-42", -42}, {"+42", 42}, {" 42", 42}, {"\t\n 42", 42},
        {"0x2a", 42}, {"0X2A", 42}, {"-0x10", -16}, {"052", 42}, {"-052", -42}, {"00", 0},
        {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
        {"0x7fffffffffffffff", INT64_MAX}, {"-0x8000000000000000", INT64_MIN},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        CHECK(parse_int64(c.text) == c.value);
        CHECK(keyval_error(visit_in_int, c.text).empty());
    }
    for (const char* s : {"9223372036854775808", "-9223372036854775809", "0x8000000000000000",
                          "99999999999999999999", "08", "09", "0x", "0xg", "42 ", "4 2", "",
                          " ", "-", "+", "1e3", "3.14", "0b101", "2a", "--1", "1k"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_int64(s).has_value());
        CHECK(keyval_error(visit_in_int, s) == "Parameter 'x' expects integer");
    }
    CHECK_FALSE(parse_int64(std::string_view("1\0", 2)).has_value());
}

TEST_CASE("narrower signed integers: range after parsing, QEMU's type names") {
    CHECK(keyval_error(visit_in_int8, "127").empty());
    CHECK(keyval_error(visit_in_int8, "-128").empty());
    CHECK(keyval_error(visit_in_int8, "128") == "Parameter 'x' expects int8_t");
    CHECK(keyval_error(visit_in_int8, "-129") == "Parameter 'x' expects int8_t");
    CHECK(keyval_error(visit_in_int8, "0x80") == "Parameter 'x' expects int8_t");
    CHECK(keyval_error(visit_in_int8, "x") == "Parameter 'x' expects integer");
    CHECK(keyval_error(visit_in_int16, "32767").empty());
    CHECK(keyval_error(visit_in_int16, "32768") == "Parameter 'x' expects int16_t");
    CHECK(keyval_error(visit_in_int32, "-2147483648").empty());
    CHECK(keyval_error(visit_in_int32, "2147483648") == "Parameter 'x' expects int32_t");
    CHECK(keyval_error(visit_in_int64, "9223372036854775808") == "Parameter 'x' expects integer");
}

TEST_CASE("uint64: strtoull base 0, a minus sign wraps modulo 2^64") {
    struct Case {
        const char* text;
        uint64_t value;
    };
    const Case good[] = {
        {"0", 0}, {"42", 42}, {"+42", 42}, {" 42", 42}, {"0x2a", 42}, {"052", 42},
        {"18446744073709551615", UINT64_MAX}, {"0xffffffffffffffff", UINT64_MAX},
        {"-1", UINT64_MAX}, {"-18446744073709551615", 1}, {"-0", 0},
        {"-9223372036854775808", uint64_t{1} << 63},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        CHECK(parse_uint64(c.text) == c.value);
        CHECK(keyval_error(visit_in_uint64, c.text).empty());
    }
    for (const char* s : {"18446744073709551616", "-18446744073709551616",
                          "0x10000000000000000", "3.14", "08", "0x", "1 ", "", "1e3", "1k"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_uint64(s).has_value());
        CHECK(keyval_error(visit_in_uint64, s) == "Parameter 'x' expects integer");
    }
}

TEST_CASE("narrower unsigned integers: -1 wraps first, then fails the range") {
    CHECK(keyval_error(visit_in_uint8, "255").empty());
    CHECK(keyval_error(visit_in_uint8, "256") == "Parameter 'x' expects uint8_t");
    CHECK(keyval_error(visit_in_uint8, "-1") == "Parameter 'x' expects uint8_t");
    CHECK(keyval_error(visit_in_uint16, "65535").empty());
    CHECK(keyval_error(visit_in_uint16, "65536") == "Parameter 'x' expects uint16_t");
    CHECK(keyval_error(visit_in_uint32, "4294967295").empty());
    CHECK(keyval_error(visit_in_uint32, "0x100000000") == "Parameter 'x' expects uint32_t");
    CHECK(keyval_error(visit_in_uint32, "4294967296x") == "Parameter 'x' expects integer");
}

TEST_CASE("size: binary units, any case, one at the end") {
    struct Case {
        const char* text;
        uint64_t value;
    };
    const Case good[] = {
        {"0", 0}, {"8", 8}, {"8b", 8}, {"8B", 8}, {"1k", kKiB}, {"1K", kKiB}, {"2m", 2 * kMiB},
        {"2M", 2 * kMiB}, {"3g", 3 * kGiB}, {"3G", 3 * kGiB}, {"4t", 4 * kTiB}, {"5P", 5 * kPiB},
        {"15E", 15 * kEiB}, {"15e", 15 * kEiB}, {" 1k", kKiB}, {"+1k", kKiB}, {"08", 8},
        {"010", 10}, {"010k", 10 * kKiB},
        {"16777215T", 16777215 * kTiB}, {"18446744073709551615", UINT64_MAX},
        {"9007199254740993", 9007199254740993}, {"18446744073709550591", 18446744073709550591u},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        CHECK(parse_size(c.text) == c.value);
        CHECK(keyval_error(visit_in_size, c.text).empty());
    }
}

TEST_CASE("size: hexadecimal without fraction or unit") {
    CHECK(parse_size("0x10") == 16);
    CHECK(parse_size("0X1E") == 30);  // E is a digit here, not exbibytes
    CHECK(parse_size("0x1b") == 27);  // and b is a digit, not bytes
    CHECK(parse_size(" 0x10") == 16);
    CHECK(parse_size("+0x10") == 16);
    CHECK(parse_size("0xffffffffffffffff") == UINT64_MAX);
    for (const char* s : {"0x10k", "0x10M", "0x1.8", "0x", "0xg", "00x10", "-0x10",
                          "0x10000000000000000", "0x10 "}) {
        CAPTURE(s);
        CHECK_FALSE(parse_size(s).has_value());
    }
}

TEST_CASE("size: a fraction needs a unit of a kibibyte or more") {
    struct Case {
        const char* text;
        uint64_t value;
    };
    const Case good[] = {
        {"1.5k", 1536}, {"1.5K", 1536}, {"0.1G", kGiB / 10}, {"12.345M", 12944671},
        {"1.k", kKiB}, {".5k", 512}, {" .5k", 512}, {"+.5k", 512}, {"1.5e", kEiB + kEiB / 2},
        {"1.5E", kEiB + kEiB / 2}, {".5e", kEiB / 2}, {"2.25M", 2 * kMiB + kMiB / 4},
        // A fraction with no value, or none left after rounding, needs no unit.
        {"1.", 1}, {"1.0", 1}, {"1.000b", 1}, {"1.b", 1}, {"0.0", 0},
        // Rounding is QEMU's: the fraction as a double, then 64 binary
        // digits, then half up; 1/2048 KiB is exactly half a byte.
        {"0.00048828125k", 1}, {"0.00048828124k", 0}, {"0.1k", 102}, {"1.1E", 1268213655067531680},
        {"0.99999999999999999999", 1}, {"0.99999999999999999999k", kKiB},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        CHECK(parse_size(c.text) == c.value);
    }
    for (const char* s : {"1.5", "1.5b", "1.5B", "0.5", ".5", ".5b", "1.5e3", "1e3", "1E3",
                          "1.5.k", "1.5 k", ".", ".k", "-.5k", "-1.5k", "1.-5k", "1..5k",
                          "inf", "nan", "1.infk", ".infk", "0.0000001"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_size(s).has_value());
    }
}

TEST_CASE("size: at most 2^64 - 1, the unit included") {
    CHECK(parse_size("16777215T") == 16777215 * kTiB);
    CHECK(parse_size("15.999E") == 15 * kEiB + 1151768583102240128u);
    for (const char* s : {"16E", "16e", "16777216T", "16384P", "18446744073709551616",
                          "17179869184G", "15.99999999999999999E",
                          "99999999999999999999.5k"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_size(s).has_value());
        CHECK(keyval_error(visit_in_size, s) == "Parameter 'x' expects size");
    }
}

TEST_CASE("size: junk, negatives and emptiness are rejected") {
    for (const char* s : {"", " ", "-1", "-0", " -1", "1k ", "1 k", "1x", "1Z", "16Gi", "1kB",
                          "k", "b", "1kk", "1bk", "abc", "1,5k", "1_000"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_size(s).has_value());
        CHECK(keyval_error(visit_in_size, s) == "Parameter 'x' expects size");
    }
    CHECK_FALSE(parse_size(std::string_view("1k\0", 3)).has_value());
}

TEST_CASE("number: strtod, finite only") {
    struct Case {
        const char* text;
        double value;
    };
    const Case good[] = {
        {"0", 0.0}, {"1", 1.0}, {"-1.5", -1.5}, {"+2.5", 2.5}, {"1e3", 1000.0}, {"1E-3", 0.001},
        {"0x1p3", 8.0}, {" 1.5", 1.5}, {".5", 0.5}, {"5.", 5.0}, {"010", 10.0},
        {"1.7976931348623157e308", std::numeric_limits<double>::max()},
        {"18446744073709551616", 18446744073709551616.0},
    };
    for (const auto& c : good) {
        CAPTURE(c.text);
        CHECK(parse_number(c.text) == c.value);
        CHECK(keyval_error(visit_in_number, c.text).empty());
    }
    auto zero = parse_number("-0");
    REQUIRE(zero);
    CHECK(std::signbit(*zero));
    for (const char* s : {"inf", "-inf", "INF", "infinity", "nan", "NaN", "-nan", "1e400",
                          "-1e400", "1e-400", "", " ", "abc", "1.5 ", "1,5", "1.5k", "0x", "e3"}) {
        CAPTURE(s);
        CHECK_FALSE(parse_number(s).has_value());
        CHECK(keyval_error(visit_in_number, s) == "Invalid parameter type for 'x', expected: number");
    }
}

TEST_CASE("keyval coercion applies to strings only; a dict is no scalar") {
    Json tree = *keyval_parse("x.y=1");
    Input in(InputMode::Keyval);
    auto scope = in.path().member("x");
    int64_t out = 0;
    auto r = visit_in_int(in, tree.value()["x"], out);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Parameters 'x.*' are unexpected");
}
