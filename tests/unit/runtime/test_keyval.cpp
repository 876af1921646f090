// Unit tests of runtime/keyval: QEMU's keyval semantics and messages.
#include <doctest/doctest.h>

#include "runtime/keyval.h"

TEST_CASE("keyval: dotted keys become nested objects") {
    auto r = molt::keyval_parse("a.b=1,a.c=2");
    REQUIRE(r);
    CHECK(r->str() == R"({"a": {"b": "1", "c": "2"}})");
}
