// QMP commands and events of the good test schema (tests/codegen/good),
// end to end through the generated code: molt::schema::register_commands()
// fills a qmp::CommandTable, each generated marshaller parses a request's
// arguments, calls the handwritten handler (test_handlers.cpp, which
// journals its calls in the Context of test_context.h) and writes the
// return value; the generated emit_* functions hand events to an EventSink.
// Checked: table entries and flags, argument parsing and its errors,
// handler calls, return values, error classes, -compat policies.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/command_table.h"
#include "runtime/events.h"
#include "test-qapi-commands.h"
#include "test-qapi-emit-events.h"
#include "test-qapi-events-include-sub-module.h"
#include "test-qapi-events.h"
#include "test-qapi-init-commands.h"
#include "test-qapi-visit.h"
#include "tests/codegen/good/test_context.h"

using namespace molt;
using namespace molt::api;

namespace {

struct Reply {
    Result<void> status;
    std::string ret;  // what the marshaller wrote

    std::string error() const { return status ? "" : status.error().message(); }
};

// The command table of the test schema and a journal of handler calls.
struct Fixture {
    qmp::CommandTable table;
    qmp::Context ctx;

    Fixture() { schema::register_commands(table); }

    Reply call(std::string_view name, std::string_view args,
               const CompatPolicy& policy = CompatPolicy{}) {
        const qmp::CommandDef* def = table.find(name);
        REQUIRE_MESSAGE(def, "command " << name << " not registered");
        auto json = Json::parse(args);
        REQUIRE(json);
        Reply r;
        JsonWriter w(r.ret);
        r.status = def->marshal(ctx, json->value(), policy, w);
        return r;
    }
};

CompatPolicy reject_deprecated() {
    CompatPolicy p;
    p.deprecated_input = CompatInput::Reject;
    return p;
}

CompatPolicy hide_deprecated() {
    CompatPolicy p;
    p.deprecated_output = CompatOutput::Hide;
    return p;
}

}  // namespace

TEST_CASE("good commands: register_commands adds every generated command with its flags") {
    Fixture f;
    struct Expect {
        const char* name;
        unsigned flags;
        unsigned special;
    };
    const Expect expected[] = {
        {"test-echo-builtins", 0, 0},
        {"test-command", 0, 0},
        {"test-boxed", 0, 0},
        {"test-boxed-struct", 0, 0},
        {"test-conditional", 0, 0},
        {"test-no-args", qmp::kAllowPreconfig | qmp::kCoroutine, 0},
        {"test-oob", qmp::kAllowOob, 0},
        {"test-no-response", qmp::kNoSuccessResponse, 0},
        {"test-returns-int", 0, 0},
        {"test-returns-any", 0, 0},
        {"test-returns-str-list", 0, 0},
        {"test-alternates", 0, 0},
        {"test-tree", 0, 0},
        {"test-fail", 0, 0},
        {"test-deprecated", 0, kFeatureDeprecated},
        {"x-test-unstable", 0, kFeatureUnstable},
        {"test-if-on", 0, 0},
        {"test_legacy_command", 0, 0},
        {"test-sub-command", 0, 0},
    };
    for (const auto& e : expected) {
        const qmp::CommandDef* def = f.table.find(e.name);
        REQUIRE_MESSAGE(def, e.name);
        CHECK_MESSAGE(def->flags == e.flags, e.name);
        CHECK_MESSAGE(def->special == e.special, e.name);
        CHECK(static_cast<bool>(def->marshal));
    }
    CHECK(f.table.all().size() == std::size(expected));
    // 'if'-false and 'gen': false commands are not in the table.
    CHECK(f.table.find("test-if-off") == nullptr);
    CHECK(f.table.find("test-no-gen") == nullptr);
    // The 'gen': false commands are listed for their owners.
    CHECK(schema::kManualCommands[0] == "test-no-gen");
    CHECK(schema::kManualCommands[1].empty());
}

TEST_CASE("good commands: a 'gen': false command is registered by hand") {
    Fixture f;
    qmp::Marshaller manual = [](qmp::Context& ctx, const JsonValue& args, const CompatPolicy&,
                                JsonWriter& ret) -> Result<void> {
        // The owner reads the arguments as it likes, here all as 'raw'.
        MOLT_TRY(qmp_test_no_gen(ctx, Json(args)));
        ret.begin_object();
        ret.end_object();
        return ok();
    };
    f.table.add({schema::kManualCommands[0], manual, 0, 0});
    Reply r = f.call("test-no-gen", R"({"raw": [1]})");
    REQUIRE(r.status);
    CHECK(r.ret == "{}");
    CHECK(f.ctx.last() == R"(test-no-gen: {"raw": [1]})");
}

TEST_CASE("good commands: arguments of every built-in type reach the handler") {
    Fixture f;
    const char* args =
        R"({"string": "s", "number": -0.5, "integer": -9223372036854775808, "i8": -1, )"
        R"("i16": 2, "i32": 3, "i64": 4, "u8": 255, "u16": 6, "u32": 7, )"
        R"("u64": 18446744073709551615, "sz": 9, "boolean": true, "anything": {"k": [null]}, )"
        R"("nothing": null})";
    Reply r = f.call("test-echo-builtins", args);
    REQUIRE_MESSAGE(r.status, r.error());
    CHECK(r.ret == Json::parse(args)->str());
    CHECK(f.ctx.last() == "test-echo-builtins: s");

    Reply bad = f.call("test-echo-builtins", R"({"string": "s"})");
    CHECK(bad.error() == "Parameter 'number' is missing");
    CHECK(bad.ret.empty());
    CHECK(f.ctx.calls.size() == 1);  // the handler was not called again
}

TEST_CASE("good commands: inline arguments, optional, conditional and keyword-named") {
    Fixture f;
    Reply r = f.call("test-command",
                     R"({"a": 5, "b": "bee", "e": "value-two", "class": "cls", "if-on": 9, )"
                     R"("bases": [{"base-int": 1}]})");
    REQUIRE_MESSAGE(r.status, r.error());
    CHECK(f.ctx.last() == "test-command: a=5 e=value-two if-on=9");
    CHECK(r.ret == R"({"base-int": 5, "base-str": "bee", "flag": true, )"
                   R"("nested": {"label": "cls", "inner": {"base-int": 9}}, )"
                   R"("bases": [{"base-int": 1}]})");

    Reply minimal = f.call("test-command", R"({"a": 0, "e": "value-one"})");
    REQUIRE(minimal.status);
    CHECK(f.ctx.last() == "test-command: a=0 e=value-one if-on=absent");
    CHECK(minimal.ret == R"({"base-int": 0, "flag": false, "nested": )"
                         R"({"label": "none", "inner": {"base-int": -1}}})");

    size_t calls = f.ctx.calls.size();
    CHECK(f.call("test-command", R"({"a": 1, "e": "value-one", "if-off": 1})").error() ==
          "Parameter 'if-off' is unexpected");
    CHECK(f.call("test-command", R"({"e": "value-one"})").error() == "Parameter 'a' is missing");
    CHECK(f.call("test-command", R"({"a": 1001, "e": "value-one"})").error() ==
          "Parameter 'a' expects a value between 0 and 1000");
    CHECK(f.call("test-command", R"({"a": 1, "e": "value-if-off"})").error() ==
          "Parameter 'e' does not accept value 'value-if-off'");
    CHECK(f.call("test-command", R"({"a": 1, "e": "value-one", "bases": [{}]})").error() ==
          "Parameter 'bases[0].base-int' is missing");
    CHECK(f.call("test-command", "[]").error() ==
          "Invalid parameter type for '<anonymous>', expected: object");
    CHECK(f.ctx.calls.size() == calls);  // no handler call for bad arguments
}

TEST_CASE("good commands: boxed commands get the whole argument") {
    Fixture f;
    Reply u = f.call("test-boxed", R"({"kind": "gamma", "inner": "two", "two-value": "x"})");
    REQUIRE_MESSAGE(u.status, u.error());
    CHECK(f.ctx.last() == R"(test-boxed: {"kind": "gamma", "inner": "two", "two-value": "x"})");
    CHECK(u.ret == R"({"kind": "gamma", "common": 42, "inner": "two", "two-value": "x"})");
    CHECK(f.call("test-boxed", R"({"kind": "delta", "inner": "two"})").error() ==
          "Parameter 'inner' is unexpected");

    Reply s = f.call("test-boxed-struct", R"({"count": 3})");
    REQUIRE(s.status);
    CHECK(s.ret == "{}");
    CHECK(f.ctx.last() == "test-boxed-struct: count=3");
    // The argument's constraints and its [[check]] rule hold before the call.
    CHECK(f.call("test-boxed-struct", R"({"count": 3, "min": 2, "max": 1})").error() ==
          "Parameter 'max' expects a value no less than min (2)");
    CHECK(f.ctx.last() == "test-boxed-struct: count=3");
}

TEST_CASE("good commands: commands without arguments or return value") {
    Fixture f;
    for (const char* name : {"test-no-args", "test-no-response", "x-test-unstable",
                             "test-if-on", "test_legacy_command"}) {
        Reply r = f.call(name, "{}");
        REQUIRE_MESSAGE(r.status, name);
        CHECK(r.ret == "{}");
        CHECK(f.ctx.last() == name);
        CHECK(f.call(name, R"({"x": 1})").error() == "Parameter 'x' is unexpected");
    }
}

TEST_CASE("good commands: return values of every shape") {
    Fixture f;
    CHECK(f.call("test-oob", R"({"count": 3})").ret ==
          R"([{"base-int": 0}, {"base-int": 1}, {"base-int": 2}])");
    CHECK(f.call("test-oob", R"({"count": 0})").ret == "[]");
    CHECK(f.call("test-oob", R"({"count": 11})").error() ==
          "Parameter 'count' expects a value between 0 and 10");
    CHECK(f.call("test-returns-int", R"({"a": 40, "b": 2})").ret == "42");
    CHECK(f.call("test-returns-any", R"({"value": {"x": [true, 1.5]}})").ret ==
          R"({"x": [true, 1.5]})");
    CHECK(f.call("test-returns-any", R"({"value": null})").ret == "null");
    CHECK(f.call("test-returns-str-list", R"({"words": ["a", "b", "c"]})").ret ==
          R"(["c", "b", "a"])");
    CHECK(f.call("test-alternates", R"({"alt": "value-one", "opt": null})").ret ==
          R"({"all": "value-one", "str-null": null})");
    CHECK(f.ctx.last() == "test-alternates: branch 1");
    CHECK(f.call("test-alternates", R"({"alt": {"base-int": 2}})").ret ==
          R"({"all": {"base-int": 2}})");
    CHECK(f.call("test-tree", R"({"tree": {"value": 1, "left": {"value": 2}, )"
                              R"("children": [{"value": 3, "right": {"value": 4}}]}})")
              .ret == R"({"value": 1, "right": {"value": 2}, )"
                      R"("children": [{"value": 3, "left": {"value": 4}}]})");
    CHECK(f.call("test-sub-command", R"({"value": {"choice": "sub-two", "note": "x"}})").ret ==
          R"({"choice": "sub-two", "note": "sub"})");
}

TEST_CASE("good commands: a handler's error comes back with its class") {
    Fixture f;
    Reply r = f.call("test-fail", R"({"why": "no such thing"})");
    REQUIRE_FALSE(r.status);
    CHECK(r.status.error().message() == "no such thing");
    CHECK(r.status.error().error_class() == ErrorClass::DeviceNotFound);
    CHECK(f.ctx.last() == "test-fail");
}

TEST_CASE("good commands: -compat policies on arguments and return values") {
    Fixture f;
    // Deprecated input accepted by default, rejected on request.
    REQUIRE(f.call("test-deprecated", R"({"old": 1})").status);
    CHECK(f.ctx.last() == "test-deprecated: old=1");
    CHECK(f.call("test-deprecated", R"({"old": 1})", reject_deprecated()).error() ==
          "Deprecated parameter old disabled by policy");
    REQUIRE(f.call("test-deprecated", "{}", reject_deprecated()).status);
    CHECK(f.call("test-command", R"({"a": 1, "e": "value-old"})", reject_deprecated())
              .error() == "Deprecated value value-old disabled by policy");
    CompatPolicy reject_unstable;
    reject_unstable.unstable_input = CompatInput::Reject;
    CHECK(f.call("test-command", R"({"a": 1, "e": "x-value-new"})", reject_unstable).error() ==
          "Unstable value x-value-new disabled by policy");
    CHECK(f.call("test-conditional", R"({"always": 1, "x-new": "n"})", reject_unstable)
              .error() == "Unstable parameter x-new disabled by policy");

    // Deprecated output hidden on request.
    const char* cond = R"({"always": 1, "if-on": 2, "old": 3, "x-new": "n", "custom": false})";
    CHECK(f.call("test-conditional", cond).ret == Json::parse(cond)->str());
    CHECK(f.call("test-conditional", cond, hide_deprecated()).ret ==
          R"({"always": 1, "if-on": 2, "x-new": "n", "custom": false})");
    CompatPolicy hide_unstable;
    hide_unstable.unstable_output = CompatOutput::Hide;
    CHECK(f.call("test-conditional", cond, hide_unstable).ret ==
          R"({"always": 1, "if-on": 2, "old": 3, "custom": false})");
}

// --- events ---------------------------------------------------------------------

namespace {

class RecordingSink : public EventSink {
public:
    explicit RecordingSink(CompatPolicy policy = CompatPolicy{}) : m_policy(policy) {}
    const CompatPolicy& policy() const override { return m_policy; }
    void emit(std::string_view event, std::string_view data_json) override {
        events.emplace_back(std::string(event) + " " + std::string(data_json));
    }
    std::vector<std::string> events;

private:
    CompatPolicy m_policy;
};

}  // namespace

TEST_CASE("good events: emitters serialise their data") {
    RecordingSink sink;
    emit_test_event_no_data(sink);
    emit_test_event_data(sink, 1, std::string("b"), TestEnum::ValueIfOn, 4);
    emit_test_event_data(sink, -1, std::nullopt, TestEnum::ValueOne, std::nullopt);
    emit_test_event_struct(sink, 3, std::nullopt);
    TestFlatUnion u;
    u.kind = TestUnionKind::Beta;
    u.u.beta->b_list = {1, 2};
    emit_test_event_boxed(sink, u);
    emit_test_event_deprecated(sink);
    emit_test_event_unstable(sink);
    emit_test_sub_event(sink, SubEnum::SubTwo);
    const std::vector<std::string> expected = {
        "TEST_EVENT_NO_DATA ",
        R"(TEST_EVENT_DATA {"a": 1, "b": "b", "e": "value-if-on", "old": 4})",
        R"(TEST_EVENT_DATA {"a": -1, "e": "value-one"})",
        R"(TEST_EVENT_STRUCT {"base-int": 3})",
        R"(TEST_EVENT_BOXED {"kind": "beta", "b-list": [1, 2]})",
        "TEST_EVENT_DEPRECATED ",
        "TEST_EVENT_UNSTABLE ",
        R"(TEST_SUB_EVENT {"choice": "sub-two"})",
    };
    CHECK(sink.events == expected);
}

TEST_CASE("good events: -compat output policies hide events and members") {
    RecordingSink hide_dep(hide_deprecated());
    emit_test_event_deprecated(hide_dep);
    emit_test_event_unstable(hide_dep);
    emit_test_event_data(hide_dep, 1, std::nullopt, TestEnum::ValueOne, 4);
    CHECK(hide_dep.events == std::vector<std::string>{
                                 "TEST_EVENT_UNSTABLE ",
                                 R"(TEST_EVENT_DATA {"a": 1, "e": "value-one"})"});

    CompatPolicy policy;
    policy.unstable_output = CompatOutput::Hide;
    RecordingSink hide_unstable(policy);
    emit_test_event_deprecated(hide_unstable);
    emit_test_event_unstable(hide_unstable);
    CHECK(hide_unstable.events == std::vector<std::string>{"TEST_EVENT_DEPRECATED "});
}

TEST_CASE("good events: the event table names every event that exists") {
    const EnumLookup& events = enum_lookup(schema::Event{});
    const std::vector<std::string_view> names(events.names, events.names + events.count);
    CHECK(names == std::vector<std::string_view>{
                       "TEST_EVENT_NO_DATA", "TEST_EVENT_DATA", "TEST_EVENT_STRUCT",
                       "TEST_EVENT_BOXED", "TEST_EVENT_DEPRECATED", "TEST_EVENT_UNSTABLE",
                       "TEST_SUB_EVENT"});
    CHECK(events.name(static_cast<int>(schema::Event::TestEventBoxed)) == "TEST_EVENT_BOXED");
    CHECK(events.features_of(static_cast<int>(schema::Event::TestEventDeprecated)) ==
          kFeatureDeprecated);
    CHECK(events.features_of(static_cast<int>(schema::Event::TestEventUnstable)) ==
          kFeatureUnstable);
    CHECK(events.features_of(static_cast<int>(schema::Event::TestSubEvent)) == 0);
}
