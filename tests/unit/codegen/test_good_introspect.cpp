// Introspection of the good test schema: the query-qmp-schema reply that
// molt::schema::qmp_schema_json() renders from the generated table
// (test-qapi-introspect.cpp).  Checked against the schema: one entry per
// command and event, then every type they use, type names masked as
// numbers, integer types reported as 'int', optional members with
// "default": null, features, enum members and values, union tags and
// variants, alternates, arrays, and that everything whose 'if' is false
// is missing; with hide_deprecated, deprecated entities and members are.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/json.h"
#include "test-qapi-introspect.h"

using namespace molt;

namespace {

std::string str(const JsonValue& v) {
    REQUIRE(v.IsString());
    return std::string(v.GetString(), v.GetStringLength());
}

// The reply, indexed by entity name.
class Schema {
public:
    explicit Schema(bool hide_deprecated = false) {
        auto parsed = Json::parse(schema::qmp_schema_json(hide_deprecated));
        REQUIRE(parsed);
        m_json = std::move(*parsed);
        REQUIRE(m_json.value().IsArray());
        for (const auto& e : m_json.value().GetArray()) {
            std::string name = str(e["name"]);
            CHECK_MESSAGE(m_by_name.count(name) == 0, "duplicate entity " << name);
            m_by_name[name] = &e;
            m_order.push_back(name);
        }
    }

    bool has(const std::string& name) const { return m_by_name.count(name) != 0; }
    const JsonValue& operator[](const std::string& name) const {
        auto it = m_by_name.find(name);
        REQUIRE_MESSAGE(it != m_by_name.end(), "no entity " << name);
        return *it->second;
    }
    // The entity a command's or event's arg-type (or ret-type) names.
    const JsonValue& type_of(const std::string& name, const char* key = "arg-type") const {
        return (*this)[str((*this)[name][key])];
    }
    // The masked name of TestBase: the element type of test-oob's return.
    std::string test_base() const {
        return str((*this)[str((*this)["test-oob"]["ret-type"])]["element-type"]);
    }
    const std::vector<std::string>& order() const { return m_order; }
    size_t size() const { return m_order.size(); }

private:
    Json m_json;
    std::map<std::string, const JsonValue*> m_by_name;
    std::vector<std::string> m_order;
};

// An object type's members as "name:type" ("name:type?" if optional,
// "[features]" appended).
std::vector<std::string> members(const JsonValue& obj) {
    std::vector<std::string> out;
    for (const auto& m : obj["members"].GetArray()) {
        std::string s = str(m["name"]) + ":" + str(m["type"]);
        if (m.HasMember("default")) {
            CHECK(m["default"].IsNull());
            s += "?";
        }
        if (m.HasMember("features")) s += Json(m["features"]).str();
        out.push_back(s);
    }
    return out;
}

std::vector<std::string> strings(const JsonValue& list) {
    std::vector<std::string> out;
    for (const auto& v : list.GetArray()) out.push_back(str(v));
    return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("good introspection: commands and events first, in schema order") {
    Schema s;
    const Strings expected = {
        "test-echo-builtins", "test-command", "test-boxed", "test-boxed-struct",
        "test-conditional", "test-no-args", "test-oob", "test-no-gen", "test-no-response",
        "test-returns-int", "test-returns-any", "test-returns-str-list", "test-alternates",
        "test-tree", "test-fail", "test-deprecated", "x-test-unstable", "test-if-on",
        "test_legacy_command", "TEST_EVENT_NO_DATA", "TEST_EVENT_DATA", "TEST_EVENT_STRUCT",
        "TEST_EVENT_BOXED", "TEST_EVENT_DEPRECATED", "TEST_EVENT_UNSTABLE",
        "test-sub-command", "TEST_SUB_EVENT"};
    REQUIRE(s.size() > expected.size());
    CHECK(Strings(s.order().begin(), s.order().begin() + static_cast<long>(expected.size())) ==
          expected);
    for (const auto& name : expected) {
        std::string meta = str(s[name]["meta-type"]);
        CHECK(meta == (name[0] == 'T' ? "event" : "command"));
    }
    // Every other entity is a type, named by a number unless built in.
    const std::set<std::string> builtins = {"str", "int", "number", "bool", "null", "any"};
    for (size_t i = expected.size(); i < s.size(); i++) {
        const std::string& name = s.order()[i];
        std::string meta = str(s[name]["meta-type"]);
        if (meta == "builtin") {
            CHECK(builtins.count(name) == 1);
        } else if (meta == "array") {
            CHECK(name == "[" + str(s[name]["element-type"]) + "]");
        } else {
            CHECK_MESSAGE(name.find_first_not_of("0123456789") == std::string::npos, name);
        }
    }
    // The names of schema types do not leak.
    CHECK(std::string(schema::qmp_schema_json()).find("Test") == std::string::npos);
    CHECK(std::string(schema::qmp_schema_json()).find("q_obj") == std::string::npos);
}

TEST_CASE("good introspection: if-false entities, members, values and branches are missing") {
    Schema s;
    CHECK_FALSE(s.has("test-if-off"));
    CHECK_FALSE(s.has("TEST_EVENT_IF_OFF"));
    CHECK(s.has("test-if-on"));
    CHECK(members(s.type_of("test-command")) ==
          Strings{"a:int", "b:str?", "e:" + str(s.type_of("test-command")["members"][2]["type"]),
                  "bases:[" + s.test_base() + "]?",
                  "class:str?", "if-on:int?"});
    CHECK(members(s.type_of("test-conditional")) ==
          Strings{"always:int", "if-on:int?", "if-all:str?", R"(old:int?["deprecated"])",
                  R"(x-new:str?["unstable"])", R"(custom:bool?["test-feature"])"});
    const JsonValue& kind = s[str(s.type_of("test-boxed")["members"][0]["type"])];
    CHECK(strings(kind["values"]) == Strings{"alpha", "beta", "gamma", "delta", "epsilon"});
    Strings cases;
    for (const auto& v : s.type_of("test-boxed")["variants"].GetArray()) {
        cases.push_back(str(v["case"]));
    }
    CHECK(cases == Strings{"alpha", "beta", "gamma", "epsilon", "delta"});
    // The conditional alternate branch that does not exist.
    const JsonValue& alts = s.type_of("test-alternates", "ret-type");
    const JsonValue& cond = s[str(alts["members"][4]["type"])];
    CHECK(str(cond["meta-type"]) == "alternate");
    CHECK(cond["members"].Size() == 2);
    // A conditional feature that does not exist.
    CHECK(strings(s["x-test-unstable"]["features"]) ==
          Strings{"unstable", "test-feature", "feature-if-on"});
}

TEST_CASE("good introspection: commands and events describe their arguments and flags") {
    Schema s;
    CHECK(s["test-oob"]["allow-oob"].IsTrue());
    CHECK_FALSE(s["test-command"].HasMember("allow-oob"));
    CHECK_FALSE(s["test-no-args"].HasMember("allow-oob"));  // preconfig is not introspected
    // No arguments, no return value: the empty object.
    const JsonValue& empty = s.type_of("test-no-args");
    CHECK(str(empty["meta-type"]) == "object");
    CHECK(empty["members"].Size() == 0);
    CHECK(str(s["test-no-args"]["ret-type"]) == str(s["test-no-args"]["arg-type"]));
    CHECK(str(s["TEST_EVENT_NO_DATA"]["arg-type"]) == str(s["test-no-args"]["arg-type"]));
    // Return types of every shape.
    CHECK(str(s["test-returns-int"]["ret-type"]) == "int");
    CHECK(str(s["test-returns-any"]["ret-type"]) == "any");
    CHECK(str(s["test-returns-str-list"]["ret-type"]) == "[str]");
    CHECK(str(s["[str]"]["element-type"]) == "str");
    // A boxed command's argument type is the union itself, shared with the event.
    CHECK(str(s["test-boxed"]["arg-type"]) == str(s["test-boxed"]["ret-type"]));
    CHECK(str(s["TEST_EVENT_BOXED"]["arg-type"]) == str(s["test-boxed"]["arg-type"]));
    // A struct named as data: its members.
    CHECK(members(s.type_of("TEST_EVENT_STRUCT")) == Strings{"base-int:int", "base-str:str?"});
    CHECK(members(s.type_of("TEST_EVENT_DATA")) ==
          Strings{"a:int", "b:str?", "e:" + str(s.type_of("TEST_EVENT_DATA")["members"][2]["type"]),
                  R"(old:int?["deprecated"])"});
    // Features of commands and events.
    CHECK(strings(s["test-deprecated"]["features"]) == Strings{"deprecated"});
    CHECK(strings(s["TEST_EVENT_UNSTABLE"]["features"]) == Strings{"unstable"});
    CHECK_FALSE(s["test-command"].HasMember("features"));
    // The 'gen': false command is introspected like any other.
    CHECK(members(s.type_of("test-no-gen")) == Strings{"raw:any"});
    // A command of the included module.
    CHECK(members(s.type_of("test-sub-command", "ret-type"))[0].rfind("choice:", 0) == 0);
}

TEST_CASE("good introspection: types of every kind") {
    Schema s;
    // Every integer type is 'int'; the other built-ins keep their JSON type.
    CHECK(members(s.type_of("test-echo-builtins")) ==
          Strings{"string:str", "number:number", "integer:int", "i8:int", "i16:int", "i32:int",
                  "i64:int", "u8:int", "u16:int", "u32:int", "u64:int", "sz:int",
                  "boolean:bool", "anything:any", "nothing:null"});
    CHECK(str(s["int"]["json-type"]) == "int");
    CHECK(str(s["any"]["json-type"]) == "value");
    CHECK(str(s["null"]["json-type"]) == "null");
    CHECK(str(s["str"]["json-type"]) == "string");
    CHECK(str(s["number"]["json-type"]) == "number");
    CHECK(str(s["bool"]["json-type"]) == "boolean");

    // An enum: members with features, values, its own features.
    const JsonValue& derived = s.type_of("test-command", "ret-type");
    const JsonValue& test_enum = s[str(s.type_of("test-command")["members"][2]["type"])];
    CHECK(str(test_enum["meta-type"]) == "enum");
    CHECK(Json(test_enum["members"]).str() ==
          R"([{"name": "value-one"}, {"name": "value-two"}, )"
          R"({"name": "value-old", "features": ["deprecated"]}, )"
          R"({"name": "x-value-new", "features": ["unstable"]}, {"name": "value-if-on"}, )"
          R"({"name": "value-if-any"}])");
    CHECK(strings(test_enum["values"]) ==
          Strings{"value-one", "value-two", "value-old", "x-value-new", "value-if-on",
                  "value-if-any"});
    CHECK(strings(test_enum["features"]) == Strings{"test-feature"});

    // A struct with a base: base members first.
    Strings dm = members(derived);
    REQUIRE(dm.size() == 10);
    CHECK(dm[0] == "base-int:int");
    CHECK(dm[1] == "base-str:str?");
    CHECK(dm[2] == "flag:bool");

    // A union: tag, variants, a branch that is a union, a branch with a base.
    const JsonValue& u = s.type_of("test-boxed");
    CHECK(str(u["tag"]) == "kind");
    CHECK(strings(u["features"]) == Strings{"test-feature"});
    const JsonValue& gamma = s[str(u["variants"][2]["type"])];
    CHECK(str(gamma["tag"]) == "inner");
    CHECK(members(gamma)[0] == "inner:" + str(gamma["members"][0]["type"]));
    CHECK(gamma["variants"].Size() == 2);
    CHECK(members(s[str(u["variants"][1]["type"])]) == Strings{"b-flag:bool?", "b-list:[int]"});
    CHECK(str(u["variants"][0]["type"]) == str(u["variants"][3]["type"]));  // alpha, epsilon

    // Alternates: one member per branch, by type.
    const JsonValue& alt_all = s[str(s.type_of("test-alternates")["members"][0]["type"])];
    CHECK(str(alt_all["meta-type"]) == "alternate");
    Strings alt_types;
    for (const auto& m : alt_all["members"].GetArray()) alt_types.push_back(str(m["type"]));
    CHECK(alt_types == Strings{s.test_base(),
                               str(test_enum["name"]), "int", "bool", "null"});

    // A recursive type refers to itself.
    const JsonValue& tree = s.type_of("test-tree", "ret-type");
    CHECK(members(tree) == Strings{"value:int", "left:" + str(tree["name"]) + "?",
                                   "right:" + str(tree["name"]) + "?",
                                   "children:[" + str(tree["name"]) + "]?"});
}

TEST_CASE("good introspection: hide_deprecated leaves deprecated things out") {
    Schema full;
    Schema hidden(true);
    CHECK_FALSE(hidden.has("test-deprecated"));
    CHECK_FALSE(hidden.has("TEST_EVENT_DEPRECATED"));
    CHECK(hidden.has("x-test-unstable"));  // unstable is not deprecated
    CHECK(hidden.size() == full.size() - 2);
    CHECK(members(hidden.type_of("test-conditional")) ==
          Strings{"always:int", "if-on:int?", "if-all:str?", R"(x-new:str?["unstable"])",
                  R"(custom:bool?["test-feature"])"});
    CHECK(members(hidden.type_of("TEST_EVENT_DATA")).size() == 3);
    // The legacy 'values' of enums are deprecated themselves.
    const JsonValue& kind = hidden[str(hidden.type_of("test-boxed")["members"][0]["type"])];
    CHECK_FALSE(kind.HasMember("values"));
    CHECK(kind["members"].Size() == 5);
    // Masked names stay the same.
    CHECK(str(hidden["test-boxed"]["arg-type"]) == str(full["test-boxed"]["arg-type"]));
}
