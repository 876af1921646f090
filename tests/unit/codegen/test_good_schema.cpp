// Round trips of the good test schema (tests/codegen/good): JSON or keyval
// text -> generated C++ value -> JSON, driven by the shared vectors in
// tests/vectors/good-roundtrip.json (MOLT_VECTORS), and the shape of the
// generated C++: which members, enumerators and types exist under the
// schema's 'if' conditions, and how names are spelled.
//
// A vector is {"type", "input", "output"?} or {"type", "input", "error"}:
// an object input is JSON, a string input is keyval; "output" defaults to
// the input.  Each vector runs twice: through the type registry
// (molt::schema::types(), by name) and through the typed entry points
// (from_json / from_keyval / to_json), where the value must also survive a
// second trip unchanged and compare equal.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "runtime/json.h"
#include "runtime/visit.h"
#include "test_support.h"
#include "test-qapi-emit-events.h"
#include "test-qapi-keyval.h"
#include "test-qapi-visit-include-sub-module.h"
#include "test-qapi-visit.h"

using namespace molt;
using namespace molt::api;
using molt::test::read_vectors;
using molt::test::read_trip_vector;
using molt::test::typed_trip;
using molt::test::TypedTrip;

namespace {

const std::map<std::string, TypedTrip>& typed_trips() {
    static const std::map<std::string, TypedTrip> trips = {
        {"TestBuiltins", &typed_trip<TestBuiltins>},
        {"TestOptionalBuiltins", &typed_trip<TestOptionalBuiltins>},
        {"TestDerived", &typed_trip<TestDerived>},
        {"TestGrandchild", &typed_trip<TestGrandchild>},
        {"TestSubBased", &typed_trip<TestSubBased>},
        {"TestConditional", &typed_trip<TestConditional>},
        {"TestIfOnStruct", &typed_trip<TestIfOnStruct>},
        {"TestKeywords", &typed_trip<TestKeywords>},
        {"TestLegacyNames", &typed_trip<TestLegacyNames>},
        {"TestTree", &typed_trip<TestTree>},
        {"TestExprNode", &typed_trip<TestExprNode>},
        {"TestLimits", &typed_trip<TestLimits>},
        {"TestLimitsHolder", &typed_trip<TestLimitsHolder>},
        {"TestFlatUnion", &typed_trip<TestFlatUnion>},
        {"TestSubUnion", &typed_trip<TestSubUnion>},
        {"TestShape", &typed_trip<TestShape>},
        {"TestOddUnion", &typed_trip<TestOddUnion>},
        {"TestAlternates", &typed_trip<TestAlternates>},
    };
    return trips;
}

}  // namespace

TEST_CASE("good schema: round-trip vectors, through the registry and typed") {
    auto doc = Json::parse(read_vectors("good-roundtrip.json"));
    REQUIRE(doc);
    REQUIRE(doc->value().IsArray());
    REQUIRE(doc->value().Size() >= 100);
    size_t index = 0;
    for (const auto& vec : doc->value().GetArray()) {
        const auto t = read_trip_vector(vec, index);   // (no binding: doctest's INFO captures)
        const std::string& type = t.type;
        const std::string& input_text = t.input_text;
        const JsonValue* input_ptr = t.input;
        const std::string& expected = t.expected;
        const JsonValue& input = *input_ptr;
        INFO("vector " << index << ": " << type << " " << input_text);

        const TypeEntry* entry = schema::types().find(type);
        REQUIRE_MESSAGE(entry, "type " << type << " is not in the registry");
        auto r = entry->parse(input_text, {});
        CHECK((r ? *r : "error: " + r.error().message()) == expected);

        auto typed = typed_trips().find(type);
        REQUIRE_MESSAGE(typed != typed_trips().end(), "no typed trip for " << type);
        CHECK(typed->second(input) == expected);
        index++;
    }
}

TEST_CASE("good schema: values built in C++ serialise in schema order") {
    TestDerived d;
    d.base_int = 7;
    d.flag = true;
    d.nested->label = "n";
    d.nested->inner->base_str = "s";
    d.enums = std::vector<TestEnum>{TestEnum::ValueIfOn, TestEnum::XValueNew};
    d.alts = std::vector<TestAltAll>{TestAltAll{nullptr}, TestAltAll{int64_t{3}},
                                     TestAltAll{TestEnum::ValueOne}, TestAltAll{false}};
    CHECK(to_json(d) ==
          R"({"base-int": 7, "flag": true, "nested": {"label": "n", "inner": )"
          R"({"base-int": 0, "base-str": "s"}}, "enums": ["value-if-on", "x-value-new"], )"
          R"("alts": [null, 3, "value-one", false]})");

    // Pretty style indents by four.
    TestBase b;
    b.base_int = 1;
    CHECK(to_json(b, CompatPolicy{}, JsonWriter::Style::Pretty) ==
          "{\n    \"base-int\": 1\n}");
}

TEST_CASE("good schema: a default-constructed value is complete and valid JSON") {
    // Every required member has a value, boxes read as default values.
    CHECK(to_json(TestNested{}) == R"({"label": "", "inner": {"base-int": 0}})");
    CHECK(to_json(TestExprNode{}) == R"({"op": "", "lhs": 0})");
    CHECK(to_json(TestShape{}) ==
          R"({"shape": "circle", "radius": 0})");
    TestFlatUnion u;
    CHECK(u.kind == TestUnionKind::Alpha);
    CHECK(to_json(u) == R"({"kind": "alpha", "a-int": 0})");
}

TEST_CASE("good schema: unions compare the base and the selected branch only") {
    TestFlatUnion a, b;
    a.kind = b.kind = TestUnionKind::Delta;
    a.u.alpha->a_int = 1;  // not selected: ignored
    CHECK(a == b);
    a.kind = b.kind = TestUnionKind::Alpha;
    CHECK_FALSE(a == b);
    b.u.alpha->a_int = 1;
    CHECK(a == b);
    b.common = 0;
    CHECK_FALSE(a == b);
}

TEST_CASE("good schema: recursive values copy deeply") {
    auto tree = from_json<TestTree>(
        Json::parse(R"({"value": 1, "left": {"value": 2}, "children": [{"value": 3}]})")
            ->value());
    REQUIRE(tree);
    TestTree copy = *tree;
    (*copy.left)->value = 20;
    CHECK((*tree->left)->value == 2);
    CHECK_FALSE(copy == *tree);

    auto expr = from_json<TestExpr>(Json::parse(R"({"op": "+", "lhs": 1, "rhs": 2})")->value());
    REQUIRE(expr);
    REQUIRE(std::holds_alternative<Box<TestExprNode>>(*expr));
    const TestExprNode& node = *std::get<Box<TestExprNode>>(*expr);
    CHECK(node.op == "+");
    CHECK(std::get<int64_t>(*node.lhs) == 1);
}

TEST_CASE("good schema: JSON input errors at the root and in containers") {
    auto not_object = from_json<TestBase>(Json::parse("[1]")->value());
    REQUIRE_FALSE(not_object);
    CHECK(not_object.error().message() ==
          "Invalid parameter type for '<anonymous>', expected: object");

    auto alt = from_json<TestAltStrNull>(Json::parse("true")->value());
    REQUIRE_FALSE(alt);
    CHECK(alt.error().message() ==
          "Invalid parameter type for '<anonymous>', expected: TestAltStrNull");

    // from_str reads JSON only when the text starts with '{'.
    auto json = from_str<TestBase>(R"({"base-int": 1})");
    REQUIRE(json);
    auto keyval = from_str<TestBase>(" base-int=1");
    REQUIRE_FALSE(keyval);
    auto keyval_ok = from_str<TestBase>("base-int=0x1f,base-str=x");
    REQUIRE(keyval_ok);
    CHECK(keyval_ok->base_int == 31);
    CHECK(from_str<TestBase>("{\"base-int\": \"1\"}").error().message() ==
          "Invalid parameter type for 'base-int', expected: integer");
}

// --- what exists under the schema's conditions --------------------------------

namespace {

template <class T> concept HasIfOn = requires(T& t) { t.if_on; };
template <class T> concept HasIfOff = requires(T& t) { t.if_off; };
template <class T> concept HasIfAll = requires(T& t) { t.if_all; };
template <class T> concept HasIfAnyOff = requires(T& t) { t.if_any_off; };
template <class T> concept HasIfNotOn = requires(T& t) { t.if_not_on; };
template <class T> concept HasGone = requires(T& t) { t.gone; };
template <class T> concept HasBeta = requires(T& t) { t.u.beta; };
template <class T> concept HasEpsilon = requires(T& t) { t.u.epsilon; };
template <class T> concept HasZeta = requires(T& t) { t.u.zeta; };
template <class T> concept HasDelta = requires(T& t) { t.u.delta; };
template <class E> concept HasValueIfOn = requires { E::ValueIfOn; };
template <class E> concept HasValueIfOff = requires { E::ValueIfOff; };
template <class E> concept HasValueIfAny = requires { E::ValueIfAny; };
template <class E> concept HasEventIfOff = requires { E::TestEventIfOff; };
template <class E> concept HasEventData = requires { E::TestEventData; };

}  // namespace

TEST_CASE("good schema: if-false members, values and branches do not exist in C++") {
    static_assert(HasIfOn<TestConditional>);
    static_assert(!HasIfOff<TestConditional>);
    static_assert(HasIfAll<TestConditional>);
    static_assert(!HasIfAnyOff<TestConditional>);
    static_assert(!HasIfNotOn<TestConditional>);
    static_assert(!HasGone<TestIfOnStruct>);
    static_assert(HasIfOn<q_obj_test_command_arg>);
    static_assert(!HasIfOff<q_obj_test_command_arg>);
    static_assert(!HasIfOff<q_obj_TEST_EVENT_DATA_arg>);
    static_assert(HasBeta<TestFlatUnion>);
    static_assert(HasEpsilon<TestFlatUnion>);
    static_assert(!HasZeta<TestFlatUnion>);
    static_assert(!HasDelta<TestFlatUnion>);  // no branch, no member
    static_assert(HasValueIfOn<TestEnum>);
    static_assert(!HasValueIfOff<TestEnum>);
    static_assert(HasValueIfAny<TestEnum>);
    static_assert(!HasEventIfOff<schema::Event>);
    static_assert(HasEventData<schema::Event>);
    // An alternate's if-false branch is not an alternative of its variant.
    static_assert(std::variant_size_v<TestAltConditional::Base> == 2);
    static_assert(std::is_same_v<std::variant_alternative_t<1, TestAltConditional::Base>,
                                 TestTree>);

    // The string tables agree: if-false values are not there either.
    const EnumLookup& e = enum_lookup(TestEnum{});
    CHECK(e.count == 6);
    CHECK(e.find("value-if-off") < 0);
    CHECK(e.find("value-if-on") == static_cast<int>(TestEnum::ValueIfOn));
    CHECK(e.find("value-if-any") == static_cast<int>(TestEnum::ValueIfAny));
    CHECK(enum_lookup(TestUnionKind{}).find("zeta") < 0);

    // if-false types are not registered.
    CHECK(schema::types().find("TestIfOffStruct") == nullptr);
    CHECK(schema::types().find("TestIfOffUnion") == nullptr);
    CHECK(schema::types().find("SubIfOff") == nullptr);
    CHECK(schema::types().find("TestIfOnStruct") != nullptr);
}

TEST_CASE("good schema: C++ spelling of enumerators and members") {
    CHECK(to_string(TestOddEnum::_1st) == "1st");
    CHECK(to_string(TestOddEnum::Class) == "class");
    CHECK(to_string(TestOddEnum::Int) == "int");
    CHECK(to_string(TestOddEnum::ComExampleValue) == "__com.example_value");
    // CamelCase would make both XFoo: the enum keeps the schema spelling.
    CHECK(to_string(TestCamelClash::x_foo) == "x-foo");
    CHECK(to_string(TestCamelClash::xFoo) == "xFoo");
    CHECK(to_string(TestPrefixedEnum::Beta) == "beta");
    CHECK(to_string(SubEnum::SubTwo) == "sub-two");
    CHECK(enum_lookup(TestEmptyEnum{}).count == 0);
    CHECK(enum_lookup(TestEmptyEnum{}).type_name == "TestEmptyEnum");
    CHECK(enum_lookup(TestEnum{}).features_of(static_cast<int>(TestEnum::ValueOld)) ==
          kFeatureDeprecated);
    CHECK(enum_lookup(TestEnum{}).features_of(static_cast<int>(TestEnum::XValueNew)) ==
          kFeatureUnstable);
    CHECK(enum_lookup(TestEnum{}).features_of(static_cast<int>(TestEnum::ValueOne)) == 0);

    TestKeywords k;
    k.class_ = "c";
    k.default_ = 1;
    k.namespace_ = true;
    k.errno_ = 2;
    k.if_ = "i";
    k.__com_example_member = 3;
    CHECK(to_json(k) == R"({"class": "c", "default": 1, "namespace": true, "errno": 2, )"
                        R"("if": "i", "__com.example_member": 3})");
    TestOddUnion odd;
    odd.odd = TestOddEnum::Class;
    odd.u.class_->a_int = 4;
    odd.u._1st->base_int = 5;  // not selected
    odd.u.__com_example_value->class_ = "x";  // not selected
    CHECK(to_json(odd) == R"({"odd": "class", "a-int": 4})");

    TestLegacyNames l;
    l.Upper_Case = 1;
    l.snake_case = "s";
    CHECK(to_json(l) == R"({"Upper_Case": 1, "snake_case": "s"})");
}

TEST_CASE("good schema: the type registry lists every named struct and union once") {
    const auto& reg = schema::types();
    std::map<std::string, int> seen;
    for (const TypeEntry& t : reg) seen[std::string(t.name)]++;
    for (const char* name :
         {"TestBuiltins", "TestOptionalBuiltins", "TestBase", "TestDerived", "TestNested",
          "TestGrandchild", "TestConditional", "TestIfOnStruct", "TestKeywords",
          "TestLegacyNames", "TestTree", "TestExprNode", "TestLimits", "TestLimitsHolder",
          "TestLimitsBase", "TestUnionBase", "TestBranchA", "TestBranchB", "TestBranchBBase",
          "TestInnerOne", "TestInnerTwo", "TestInnerUnion", "TestFlatUnion", "TestSubUnion",
          "TestCircle", "TestShapeGroup", "TestShape", "TestAlternates", "SubStruct", "TestSubBased", "SubDerived", "TestOddUnion"}) {
        CHECK_MESSAGE(seen[name] == 1, name);
    }
    // Not objects, or implicit: not registered.
    for (const char* name : {"TestEnum", "TestAltAll", "TestExpr", "q_obj_test-command-arg",
                             "q_obj_TestInnerUnion-base", "q_empty"}) {
        CHECK_MESSAGE(reg.find(name) == nullptr, name);
    }
    CHECK(static_cast<size_t>(reg.end() - reg.begin()) == seen.size());
}

TEST_CASE("good schema: registry help lists members, branches, constraints and defaults") {
    const TypeEntry* limits = schema::types().find("TestLimits");
    REQUIRE(limits);
    std::string help = format_help(*limits);
    CHECK(help.rfind("TestLimits options:\n", 0) == 0);
    CHECK(help.find("  count=<int>                    - (required) Between 1 and 100. "
                    "(expects a value between 1 and 100)\n") != std::string::npos);
    // Enum values come from the string table: only those whose 'if' holds.
    CHECK(help.find("  kind=<value-one|value-two|value-old|x-value-new|value-if-on|"
                    "value-if-any> - Defaults to value-two. (default value-two)\n") !=
          std::string::npos);
    CHECK(help.find("  enabled=<bool>") != std::string::npos);
    CHECK(help.find("(default on)") != std::string::npos);
    CHECK(help.find("  items=<list of int>") != std::string::npos);
    CHECK(help.find("[[") == std::string::npos);  // annotations are not prose

    const TypeEntry* u = schema::types().find("TestFlatUnion");
    REQUIRE(u);
    std::string uhelp = format_help(*u);
    CHECK(uhelp.find("  kind=<alpha|beta|gamma|delta|epsilon>") != std::string::npos);
    CHECK(uhelp.find("  a-int=<int>                    - (required) (when kind=alpha)") !=
          std::string::npos);
    CHECK(uhelp.find("(when kind=beta)") != std::string::npos);
    CHECK(uhelp.find("  inner=<one|two>                - (required) (when kind=gamma) "
                     "The discriminator.\n") != std::string::npos);
    // The branches of a branch that is a union.
    CHECK(uhelp.find("  one-value=<number>             - (required) (when kind=gamma, "
                     "inner=one) A number.\n") != std::string::npos);
    CHECK(uhelp.find("  two-value=<str>                - (required) (when kind=gamma, "
                     "inner=two) A string. (expects a non-empty string)\n") !=
          std::string::npos);
    CHECK(uhelp.find("(when kind=epsilon)") != std::string::npos);
    CHECK(uhelp.find("zeta") == std::string::npos);
}

TEST_CASE("good schema: bases across modules, both ways") {
    static_assert(std::is_base_of_v<TestBase, SubDerived>);
    static_assert(std::is_base_of_v<SubStruct, TestSubBased>);
    TestSubBased v;
    v.choice = SubEnum::SubTwo;
    v.derived = SubDerived{};
    (*v.derived)->base_int = 5;
    (*v.derived)->depth = 6;
    CHECK(to_json(v) == R"({"choice": "sub-two", "derived": {"base-int": 5, "depth": 6}})");
    // A derived value is usable where its base is.
    const SubStruct& base = v;
    CHECK(to_json(base) == R"({"choice": "sub-two"})");
}

TEST_CASE("good schema: keyval with an implied key, and help requests") {
    auto v = from_keyval<TestBase>("7,base-str=x", "base-int");
    REQUIRE(v);
    CHECK(to_json(*v) == R"({"base-int": 7, "base-str": "x"})");
    const TypeEntry* entry = schema::types().find("TestFlatUnion");
    REQUIRE(entry);
    auto implied = entry->parse("gamma,inner=two,two-value=t", "kind");
    REQUIRE(implied);
    CHECK(*implied == R"({"kind": "gamma", "inner": "two", "two-value": "t"})");
    // Only the first parameter may omit its key.
    CHECK(entry->parse("kind=gamma,two", "inner").error().message() ==
          "Expected '=' after parameter 'two'");
    // A help request is an error for a parser that takes no help.
    CHECK(entry->parse("help", {}).error().message() == "Help is not available for this option");
}
