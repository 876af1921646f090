// Unit tests of runtime/keyval: keyval_parse and keyval_merge against QEMU's
// util/keyval.c semantics and messages (checked with QEMU 7.2's -compat,
// -blockdev and -machine options, which parse through keyval).  Most parse
// cases are the shared vectors of tests/vectors/keyval.json (MOLT_VECTORS),
// a list of {"input", "implied-key"?, "output" | "error", "help"?}: "output"
// is the expected tree (all leaves strings), "error" the expected message;
// with "help" the caller accepts help requests and, on success, expects
// that value for the help flag; without it a help request is an error.
// The tests here cover what vectors cannot say: exact text and member order,
// the help flag's reset, big inputs and keyval_merge.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "runtime/json.h"
#include "runtime/keyval.h"
#include "test_support.h"

using namespace molt;
using molt::test::load_vectors;

namespace {

std::string member(const JsonValue& v, const char* key) {
    auto it = v.FindMember(key);
    if (it == v.MemberEnd()) return {};
    REQUIRE(it->value.IsString());
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

// Parses text, which must succeed.
Json parse_ok(std::string_view text, std::string_view implied = {}) {
    auto r = keyval_parse(text, implied);
    REQUIRE_MESSAGE(r, r.error().message());
    return std::move(*r);
}

std::string parse_error(std::string_view text, std::string_view implied = {}) {
    auto r = keyval_parse(text, implied);
    REQUIRE_FALSE(r);
    return r.error().message();
}

std::string merge_error(std::string_view dest, std::string_view src) {
    Json d = parse_ok(dest);
    Json s = parse_ok(src);
    auto r = keyval_merge(d, s.value());
    REQUIRE_FALSE(r);
    return r.error().message();
}

// Merges src into dest and returns the result as text.
std::string merged(std::string_view dest, std::string_view src) {
    Json d = parse_ok(dest);
    Json s = parse_ok(src);
    auto r = keyval_merge(d, s.value());
    REQUIRE_MESSAGE(r, r.error().message());
    return d.str();
}

}  // namespace

TEST_CASE("keyval: the shared vectors") {
    Json vectors = load_vectors("keyval.json");
    CHECK(vectors.value().Size() >= 60);
    for (const auto& c : vectors.value().GetArray()) {
        REQUIRE(c.IsObject());
        std::string input = member(c, "input");
        std::string implied = member(c, "implied-key");
        auto out = c.FindMember("output");
        auto error = c.FindMember("error");
        auto want_help = c.FindMember("help");
        INFO("input: " << input << "  implied-key: " << implied);
        REQUIRE((out != c.MemberEnd()) != (error != c.MemberEnd()));

        bool help = false;
        bool takes_help = want_help != c.MemberEnd();
        auto r = keyval_parse(input, implied, takes_help ? &help : nullptr);
        if (error != c.MemberEnd()) {
            REQUIRE_FALSE(r);
            CHECK(r.error().message() == member(c, "error"));
            CHECK(r.error().error_class() == ErrorClass::GenericError);
            continue;
        }
        REQUIRE_MESSAGE(r, r.error().message());
        CHECK_MESSAGE(*r == Json(out->value), r->str() << " != " << Json(out->value).str());
        if (takes_help) CHECK(help == want_help->value.GetBool());
    }
}

TEST_CASE("keyval: the vectors exercise every message keyval.cpp produces") {
    Json vectors = load_vectors("keyval.json");
    const char* const forms[] = {
        "Invalid parameter '",
        "Parameter '",           // ... is too long
        "Parameter fragment '",  // ... is too long
        "Expected '=' after parameter '",
        "Parameters '",  // ... .*' used inconsistently
        "Help is not available for this option",
    };
    const char* const endings[] = {"'", "' is too long", "' is too long", "'",
                                   ".*' used inconsistently", ""};
    std::set<size_t> seen;
    bool missing_seen = false;
    for (const auto& c : vectors.value().GetArray()) {
        std::string e = member(c, "error");
        if (e.empty()) continue;
        for (size_t i = 0; i < std::size(forms); i++) {
            std::string_view f = forms[i], end = endings[i];
            if (e.size() >= f.size() + end.size() && e.compare(0, f.size(), f) == 0 &&
                e.compare(e.size() - end.size(), end.size(), end) == 0) {
                seen.insert(i);
            }
        }
        if (e.size() > 9 && e.compare(e.size() - 9, 9, "' missing") == 0) missing_seen = true;
    }
    CHECK(seen.size() == std::size(forms));
    CHECK(missing_seen);
}

TEST_CASE("keyval: output keeps the order of first appearance") {
    CHECK(parse_ok("a.b=1,a.c=2").str() == R"({"a": {"b": "1", "c": "2"}})");
    CHECK(parse_ok("z=1,a=2,z=3").str() == R"({"z": "3", "a": "2"})");
    CHECK(parse_ok("b.1=y,a=x,b.0=z").str() == R"({"b": ["z", "y"], "a": "x"})");
    CHECK(parse_ok("cpu,x=1", "driver").str() == R"({"driver": "cpu", "x": "1"})");
}

TEST_CASE("keyval: leaves are strings holding the value's bytes") {
    Json j = parse_ok("n=42,b=on,e=,u=\xC3\xA9,raw=\xFF\x01");
    const JsonValue& v = j.value();
    for (const char* key : {"n", "b", "e", "u", "raw"}) CHECK(v[key].IsString());
    CHECK(member(v, "n") == "42");
    CHECK(member(v, "u") == "\xC3\xA9");
    CHECK(member(v, "raw") == "\xFF\x01");
    CHECK(j.str() == R"({"n": "42", "b": "on", "e": "", "u": "\u00E9", "raw": "\uFFFD\u0001"})");
}

TEST_CASE("keyval: the help flag is set or cleared on every successful parse") {
    bool help = true;
    REQUIRE(keyval_parse("a=1", {}, &help));
    CHECK_FALSE(help);
    REQUIRE(keyval_parse("a=1,help", {}, &help));
    CHECK(help);
    REQUIRE(keyval_parse("", "type", &help));
    CHECK_FALSE(help);
    // Help without a help pointer fails only after the whole string parsed.
    CHECK(parse_error("help,b") == "Expected '=' after parameter 'b'");
}

TEST_CASE("keyval: the implied key is not applied after a help request") {
    bool help = false;
    auto r = keyval_parse("help,foo", "type", &help);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Expected '=' after parameter 'foo'");
    auto r2 = keyval_parse("?,type=pc", "type", &help);
    REQUIRE(r2);
    CHECK(help);
    CHECK(r2->str() == R"({"type": "pc"})");
}

TEST_CASE("keyval: a long list given in reverse order") {
    std::string text;
    for (int i = 999; i >= 0; i--) {
        text += "list." + std::to_string(i) + ".v=" + std::to_string(i) + ",";
    }
    Json j = parse_ok(text);
    const JsonValue& list = j.value()["list"];
    REQUIRE(list.IsArray());
    REQUIRE(list.Size() == 1000);
    for (rapidjson::SizeType i = 0; i < 1000; i++) CHECK(member(list[i], "v") == std::to_string(i));
}

TEST_CASE("keyval: list indexes are decimal, capped at INT_MAX") {
    CHECK(parse_error("a.2147483647=x") == "Parameter 'a.0' missing");
    CHECK(parse_error("a.0=x,a.4294967296=y") == "Parameter 'a.1' missing");
    CHECK(parse_error("a.0x=1") == "Invalid parameter 'a.0x'");  // no base prefixes
    CHECK(parse_error("a.-1=1") == "Invalid parameter 'a.-1'");
    CHECK(parse_ok("a.000000000000000000000000000000=x").str() == R"({"a": ["x"]})");
    CHECK(parse_ok("a.08=i,a.0=a,a.1=b,a.2=c,a.3=d,a.4=e,a.5=f,a.6=g,a.7=h")
              .value()["a"][8] == "i");
}

TEST_CASE("keyval: key length limits count one fragment, not the key") {
    std::string f127(127, 'x');
    std::string key = f127 + "." + f127 + "." + f127;
    Json j = parse_ok(key + "=v");
    CHECK(j.value()[f127.c_str()][f127.c_str()][f127.c_str()] == "v");
    std::string idx(127, '1');  // an index fragment is long too
    CHECK(parse_error("a." + idx + "1=v") ==
          "Parameter fragment '" + idx + "1' is too long");
    CHECK(parse_error("a." + idx + "=v") == "Parameter 'a.0' missing");
}

TEST_CASE("keyval_merge: dicts merge recursively, strings are replaced") {
    CHECK(merged("opt1=abc,opt2.sub1=def,opt2.sub2=ghi,opt3=xyz",
                 "opt1=ABC,opt2.sub2=GHI,opt2.sub3=JKL") ==
          R"({"opt1": "ABC", "opt2": {"sub1": "def", "sub2": "GHI", "sub3": "JKL"}, "opt3": "xyz"})");
    CHECK(merged("", "a.b.c=1") == R"({"a": {"b": {"c": "1"}}})");
    CHECK(merged("a.b.c=1", "") == R"({"a": {"b": {"c": "1"}}})");
    CHECK(merged("a.b.c=1,a.b.d=2", "a.b.c=3,a.e=4") ==
          R"({"a": {"b": {"c": "3", "d": "2"}, "e": "4"}})");
}

TEST_CASE("keyval_merge: lists are concatenated, elements not merged") {
    CHECK(merged("opt1.0=abc,opt2.0=xyz", "opt1.0=def") ==
          R"({"opt1": ["abc", "def"], "opt2": ["xyz"]})");
    CHECK(merged("l.0.a=1", "l.0.b=2,l.1.a=3") ==
          R"({"l": [{"a": "1"}, {"b": "2"}, {"a": "3"}]})");
    CHECK(merged("x=1", "l.0=a,l.1=b") == R"({"x": "1", "l": ["a", "b"]})");
}

TEST_CASE("keyval_merge: the result equals parsing both strings in one") {
    Json d = parse_ok("opt1=abc,opt2.sub1=def,opt2.sub2=ghi,opt3=xyz");
    Json s = parse_ok("opt1=ABC,opt2.sub2=GHI,opt2.sub3=JKL");
    REQUIRE(keyval_merge(d, s.value()));
    CHECK(d == parse_ok("opt1=ABC,opt2.sub1=def,opt2.sub2=GHI,opt2.sub3=JKL,opt3=xyz"));
}

TEST_CASE("keyval_merge: a type clash names the member with its path") {
    CHECK(merge_error("opt2=ABC", "opt2.sub1=def,opt2.sub2=ghi") ==
          "Parameter 'opt2' used inconsistently");
    CHECK(merge_error("opt2.sub1=def,opt2.sub2=ghi", "opt2=ABC") ==
          "Parameter 'opt2' used inconsistently");
    CHECK(merge_error("a.b.0=x", "a.b.c=y") == "Parameter 'a.b' used inconsistently");
    CHECK(merge_error("a.b.c=y", "a.b.0=x") == "Parameter 'a.b' used inconsistently");
    CHECK(merge_error("a.0=x", "a=y") == "Parameter 'a' used inconsistently");
    // QEMU -machine memory=512 -m 1G: "memory" is a string, then a dict.
    CHECK(merge_error("memory=512", "memory.size=1G") ==
          "Parameter 'memory' used inconsistently");
}

TEST_CASE("keyval_merge: of several clashes, QEMU's dict order picks one") {
    // "opt1" and "opt2" share a hash bucket, where the newer entry comes
    // first, so the clash reported is opt2's whatever the text order.
    CHECK(merge_error("opt1=a,opt2=b", "opt1.x=1,opt2.y=2") ==
          "Parameter 'opt2' used inconsistently");
    // "x" (bucket 134) comes before "a" (233).
    CHECK(merge_error("a=1,x=2", "a.b=1,x.y=2") == "Parameter 'x' used inconsistently");
}

TEST_CASE("keyval_merge: src is copied, not shared") {
    Json d = parse_ok("a=1");
    {
        Json s = parse_ok("l.0=x,m.n=y");
        REQUIRE(keyval_merge(d, s.value()));
        s.value()["l"].PushBack(JsonValue("z"), s.allocator());
    }  // s is gone; d must not point into it
    CHECK(d.str() == R"({"a": "1", "l": ["x"], "m": {"n": "y"}})");
    Json again = parse_ok("l.0=w");
    REQUIRE(keyval_merge(d, again.value()));
    REQUIRE(keyval_merge(d, again.value()));
    CHECK(d.str() == R"({"a": "1", "l": ["x", "w", "w"], "m": {"n": "y"}})");
    CHECK(again.str() == R"({"l": ["w"]})");
}
