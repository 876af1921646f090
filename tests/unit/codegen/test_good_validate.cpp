// Validators and defaults generated from the good test schema's [[...]]
// annotations (tests/codegen/good/qapi-schema-test.json, TestLimits and
// friends): molt::validate() on values built in C++ (every member's own
// constraints, nested values with their paths, union branches, alternates,
// recursive types, the handwritten [[check]] rule of test_rules.cpp), and
// apply_defaults() filling absent optional members.  The input visitors run
// the same checks; the round-trip vectors cover that side.
#include <doctest/doctest.h>

#include <string>

#include "test-qapi-validate.h"
#include "test-qapi-visit.h"

using namespace molt;
using namespace molt::api;

namespace {

template <class T>
std::string check(const T& v) {
    auto r = validate(v);
    return r ? "ok" : r.error().message();
}

TestLimits limits(int64_t count) {
    TestLimits l;
    l.count = count;
    return l;
}

template <class T> concept HasDefaults = requires(T& t) { apply_defaults(t); };

}  // namespace

TEST_CASE("good validate: each annotation on a value built in C++") {
    CHECK(check(limits(1)) == "ok");
    CHECK(check(limits(0)) == "Parameter 'count' expects a value between 1 and 100");

    TestLimits l = limits(50);
    l.block = 1024;
    l.ratio = 2.5;
    l.name = "12345678";
    l.tags = std::vector<std::string>{""};
    l.mode = "fast";
    l.level = 2;
    l.port = 65535;
    l.offset = -1;
    l.mask = 0;
    l.retries = 0;
    CHECK(check(l) == "ok");

    TestLimits bad = l;
    bad.block = 0;  // a power of two is never 0
    CHECK(check(bad) == "Parameter 'block' expects a power of two between 512 and 65536");
    bad = l;
    bad.ratio = -0.51;
    CHECK(check(bad) == "Parameter 'ratio' expects a value between -0.5 and 2.5");
    bad = l;
    bad.tags = std::vector<std::string>{};
    CHECK(check(bad) == "Parameter 'tags' expects a non-empty list");
    bad = l;
    bad.mode = "FAST";
    CHECK(check(bad) == "Parameter 'mode' expects one of fast, slow");
    bad = l;
    bad.level = -1;
    CHECK(check(bad) == "Parameter 'level' expects one of 1, 2, 4");
    bad = l;
    bad.port = 1023;
    CHECK(check(bad) == "Parameter 'port' expects a port number above 1023");
    bad = l;
    bad.offset = -11;
    CHECK(check(bad) == "Parameter 'offset' expects a value between -10 and -1");
    bad = l;
    bad.mask = UINT64_C(1) << 32;
    CHECK(check(bad) == "Parameter 'mask' expects a value between 0 and 4294967295");
    bad = l;
    bad.retries = 255;
    CHECK(check(bad) == "Parameter 'retries' expects a value between 0 and 10");
}

TEST_CASE("good validate: the handwritten cross-member rule") {
    TestLimits l = limits(1);
    l.min = 3;
    CHECK(check(l) == "ok");  // only one of the two: nothing to relate
    l.max = 3;
    CHECK(check(l) == "ok");
    l.max = 2;
    CHECK(check(l) == "Parameter 'max' expects a value no less than min (3)");
    // Members are checked before the rule.
    l.count = 0;
    CHECK(check(l) == "Parameter 'count' expects a value between 1 and 100");
}

TEST_CASE("good validate: nested values are checked with their path") {
    TestLimitsHolder h;
    h.limits = {limits(1), limits(2), limits(101)};
    CHECK(check(h) == "Parameter 'limits[2].count' expects a value between 1 and 100");
    // check_members looks at the type's own members only.
    VisitPath path;
    CHECK(check_members_TestLimitsHolder(path, h));
    h.limits[2].count = 3;
    h.origin = "";
    CHECK(check(h) == "Parameter 'origin' expects a non-empty string");
    h.origin = "o";
    CHECK(check(h) == "ok");

    // Union branches, and a union inside a union.
    TestFlatUnion u;
    u.kind = TestUnionKind::Alpha;
    u.u.alpha->a_int = 100;
    CHECK(check(u) == "Parameter 'a-int' expects a value between 0 and 99");
    u.kind = TestUnionKind::Delta;  // the bad branch is not selected
    CHECK(check(u) == "ok");
    u.kind = TestUnionKind::Gamma;
    u.u.gamma->inner = TestInnerKind::Two;
    CHECK(check(u) == "Parameter 'two-value' expects a non-empty string");
    u.u.gamma->u.two->two_value = "x";
    CHECK(check(u) == "ok");

    // Alternates and lists of unions.
    TestAlternates alts;
    TestFlatUnion bad_union;
    bad_union.u.alpha->a_int = -1;
    alts.num_list = TestAltNumArray{bad_union};
    CHECK(check(alts) == "Parameter 'num-list.a-int' expects a value between 0 and 99");
    TestDerived d;
    d.unions = std::vector<TestFlatUnion>{TestFlatUnion{}, bad_union};
    CHECK(check(d) == "Parameter 'unions[1].a-int' expects a value between 0 and 99");
    d.sub = SubStruct{};
    (*d.sub)->note = std::string(17, 'x');
    d.unions->pop_back();
    CHECK(check(d) == "Parameter 'sub.note' expects a string of 0 to 16 characters");

    // Recursive types, through boxes and lists.
    TestShape circle;
    circle.u.circle->radius = -1;
    TestShape group;
    group.shape = TestShapeKind::Group;
    group.u.group->rest = std::vector<TestShape>{TestShape{}, circle};
    CHECK(check(group) == "Parameter 'rest[1].radius' expects a value no less than 0");
    TestShape outer;
    outer.shape = TestShapeKind::Group;
    outer.u.group->first = group;
    CHECK(check(outer) == "Parameter 'first.rest[1].radius' expects a value no less than 0");
}

TEST_CASE("good validate: apply_defaults fills absent members that have a default") {
    static_assert(HasDefaults<TestLimits>);
    static_assert(HasDefaults<TestLimitsHolder>);
    static_assert(HasDefaults<TestLimitsBase>);
    static_assert(!HasDefaults<TestBase>);
    static_assert(HasDefaults<TestBranchA>);
    static_assert(HasDefaults<TestFlatUnion>);   // through its branches
    static_assert(HasDefaults<TestInnerUnion> == false);

    TestLimits l = limits(7);
    l.label = "mine";
    apply_defaults(l);
    CHECK(l.count == 7);
    CHECK(l.retries == uint8_t{3});
    CHECK(l.enabled == true);
    CHECK(l.label == "mine");  // present: kept
    CHECK(l.kind == TestEnum::ValueTwo);
    CHECK(l.items == std::vector<int64_t>{});
    CHECK(l.factor == 1.5);
    CHECK(l.big == UINT64_C(1) << 30);
    // Members without a default stay absent.
    CHECK_FALSE(l.ratio);
    CHECK_FALSE(l.min);
    CHECK(to_json(l) == R"({"count": 7, "retries": 3, "enabled": true, "label": "mine", )"
                        R"("kind": "value-two", "items": [], "factor": 1.5, "big": 1073741824})");
    CHECK(check(l) == "ok");  // the defaults satisfy the constraints

    TestLimits none = limits(1);
    apply_defaults(none);
    CHECK(none.label == "none");

    // A base's defaults come with the derived type's.
    TestLimitsHolder h;
    apply_defaults(h);
    CHECK(h.origin == "base");
    CHECK(h.depth == 2);
    CHECK(check(h) == "ok");
}

TEST_CASE("good validate: a union's apply_defaults fills its selected branch") {
    TestFlatUnion u;
    u.kind = TestUnionKind::Alpha;
    apply_defaults(u);
    CHECK(u.u.alpha->a_str == "a");
    CHECK(to_json(u) == R"({"kind": "alpha", "a-int": 0, "a-str": "a"})");

    TestFlatUnion e;
    e.kind = TestUnionKind::Epsilon;  // the same branch type, another case
    apply_defaults(e);
    CHECK(e.u.epsilon->a_str == "a");
    CHECK_FALSE(e.u.alpha->a_str);  // not selected: untouched

    TestFlatUnion d;
    d.kind = TestUnionKind::Delta;
    apply_defaults(d);
    CHECK(to_json(d) == R"({"kind": "delta"})");
}
