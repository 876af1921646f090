// Unit tests of runtime/base64: RFC 4648's test vectors both ways, binary
// round trips, and the strict decoder's refusals.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/base64.h"

using namespace molt;

namespace {

std::string enc(const std::string& s) {
    return base64_encode(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::string refusal(const std::string& text) {
    Result<std::vector<uint8_t>> r = base64_decode(text);
    REQUIRE_FALSE(r);
    return r.error().message();
}

}  // namespace

TEST_CASE("base64: RFC 4648 vectors") {
    const char* pairs[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                              {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
    for (auto& p : pairs) {
        CHECK(enc(p[0]) == p[1]);
        Result<std::vector<uint8_t>> back = base64_decode(p[1]);
        REQUIRE(back);
        CHECK(std::string(back->begin(), back->end()) == p[0]);
    }
}

TEST_CASE("base64: every byte value round-trips") {
    std::vector<uint8_t> all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<uint8_t>(i));
    for (size_t n = 0; n <= all.size(); n += 37) {
        std::vector<uint8_t> part(all.begin(), all.begin() + static_cast<long>(n));
        Result<std::vector<uint8_t>> back = base64_decode(base64_encode(part));
        REQUIRE(back);
        CHECK(*back == part);
    }
}

TEST_CASE("base64: what the decoder refuses") {
    CHECK(refusal("Zm9") == "base64: length 3 is not a multiple of 4");
    CHECK(refusal("Zm9*") == "base64: invalid character at offset 3");
    CHECK(refusal("Zg==Zm9v") == "base64: padding before the end");
    CHECK(refusal("Zh==") == "base64: not canonical");
    CHECK(refusal("Z===") == "base64: invalid character at offset 1");
}
