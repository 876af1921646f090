// Unit tests of the introspection data generated from molt's real schema
// (molt::schema::qmp_schema_json(), the reply of query-qmp-schema) and of
// the keyval type registry (molt::schema::types(), runtime/type_registry.h).
// The reply must have the shape of QEMU 7.2's: a JSON array of SchemaInfo
// (each entry also reads back through molt's own generated SchemaInfo
// visitor), type names masked as numbers except built-ins and arrays,
// built-ins only the JSON types, `default: null` on optional members,
// feature lists, every reference resolvable; with deprecated output hidden,
// deprecated members and the enums' `values` go, as QEMU's -compat
// deprecated-output=hide does.  The registry finds named types, parses
// text through them and formats QEMU-style help.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "qapi-introspect.h"
#include "qapi-keyval.h"
#include "qapi-visit-introspect.h"
#include "runtime/json.h"
#include "runtime/visit.h"

using namespace molt;

namespace {

std::string str_of(const JsonValue& v, const char* key) {
    auto it = v.FindMember(key);
    REQUIRE_MESSAGE(it != v.MemberEnd(), "no member " << key << " in " << Json(v).str());
    REQUIRE(it->value.IsString());
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::vector<std::string> features_of(const JsonValue& v) {
    std::vector<std::string> out;
    auto it = v.FindMember("features");
    if (it == v.MemberEnd()) return out;
    REQUIRE(it->value.IsArray());
    for (const auto& f : it->value.GetArray()) out.emplace_back(f.GetString());
    return out;
}

bool is_masked(const std::string& name) {
    return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

// The reply, parsed, with its entities by name.
struct Schema {
    explicit Schema(bool hide_deprecated) {
        auto parsed = Json::parse(schema::qmp_schema_json(hide_deprecated));
        REQUIRE(parsed);
        doc = std::move(*parsed);
        REQUIRE(doc.value().IsArray());
        for (const auto& e : doc.value().GetArray()) {
            REQUIRE(e.IsObject());
            CHECK_MESSAGE(by_name.emplace(str_of(e, "name"), &e).second,
                          "duplicate " << str_of(e, "name"));
        }
    }
    const JsonValue& operator[](const std::string& name) const {
        auto it = by_name.find(name);
        REQUIRE_MESSAGE(it != by_name.end(), "no entity " << name);
        return *it->second;
    }
    // The entity a member's type or a command's arg-type names.
    const JsonValue& type_of(const JsonValue& e, const char* key) const {
        return (*this)[str_of(e, key)];
    }
    const JsonValue* member(const JsonValue& object, const std::string& name) const {
        for (const auto& m : object["members"].GetArray()) {
            if (str_of(m, "name") == name) return &m;
        }
        return nullptr;
    }
    Json doc;
    std::map<std::string, const JsonValue*> by_name;
};

std::vector<std::string> member_names(const JsonValue& object) {
    std::vector<std::string> out;
    for (const auto& m : object["members"].GetArray()) out.push_back(str_of(m, "name"));
    return out;
}

}  // namespace

TEST_CASE("introspection: every entry reads back as SchemaInfo, unchanged") {
    Schema s(false);
    CHECK(s.by_name.size() > 50);
    std::map<std::string, int> kinds;
    for (const auto& e : s.doc.value().GetArray()) {
        auto info = from_json<api::SchemaInfo>(e);
        REQUIRE_MESSAGE(info, Json(e).str() << ": " << info.error().message());
        // Equal as JSON values: member order differs where the reply puts
        // 'features' last (as QEMU does) and SchemaInfo's base has it early.
        CHECK_MESSAGE(*Json::parse(to_json(*info)) == Json(e), Json(e).str());
        kinds[str_of(e, "meta-type")]++;
    }
    for (const char* k : {"builtin", "enum", "array", "object", "command", "event"}) {
        CHECK_MESSAGE(kinds[k] > 0, k);
    }
    // Built once: the same text every time.
    CHECK(schema::qmp_schema_json().data() == schema::qmp_schema_json().data());
}

TEST_CASE("introspection: names masked, built-ins are the JSON types, references resolve") {
    Schema s(false);
    const std::map<std::string, std::string> json_types = {
        {"str", "string"}, {"int", "int"},   {"number", "number"},
        {"bool", "boolean"}, {"null", "null"}, {"any", "value"}};
    std::set<std::string> masked;
    for (const auto& [name, e] : s.by_name) {
        const std::string meta = str_of(*e, "meta-type");
        const std::string entry_text = Json(*e).str();   // (INFO cannot capture a binding)
        INFO(entry_text);
        if (meta == "builtin") {
            REQUIRE(json_types.count(name) == 1);
            CHECK(str_of(*e, "json-type") == json_types.at(name));
        } else if (meta == "array") {
            CHECK(name == "[" + str_of(*e, "element-type") + "]");
            s.type_of(*e, "element-type");
        } else if (meta == "command" || meta == "event") {
            CHECK_FALSE(is_masked(name));
            CHECK(s.type_of(*e, "arg-type")["meta-type"] == "object");
            if (meta == "command") s.type_of(*e, "ret-type");
            auto oob = e->FindMember("allow-oob");
            if (oob != e->MemberEnd()) CHECK(oob->value.IsTrue());  // only ever true
        } else {
            CHECK(is_masked(name));
            masked.insert(name);
        }
        if (meta == "object") {
            for (const auto& m : (*e)["members"].GetArray()) {
                s.type_of(m, "type");
                auto d = m.FindMember("default");
                if (d != m.MemberEnd()) CHECK(d->value.IsNull());
            }
            CHECK(e->HasMember("tag") == e->HasMember("variants"));
            if (e->HasMember("variants")) {
                CHECK(s.member(*e, str_of(*e, "tag")) != nullptr);
                for (const auto& v : (*e)["variants"].GetArray()) {
                    CHECK(s.type_of(v, "type")["meta-type"] == "object");
                }
            }
        }
        if (meta == "enum") {
            std::vector<std::string> values;
            for (const auto& v : (*e)["values"].GetArray()) values.emplace_back(v.GetString());
            CHECK(values == member_names(*e));
        }
    }
    // Masked names are 0..N-1, numbered in order of first use.
    for (size_t i = 0; i < masked.size(); i++) CHECK(masked.count(std::to_string(i)) == 1);
    CHECK(str_of(s.doc.value()[0], "arg-type") == "0");
}

TEST_CASE("introspection: the migration commands and MigrationParameters") {
    Schema s(false);
    const JsonValue& set = s["migrate-set-parameters"];
    const JsonValue& query = s["query-migrate-parameters"];
    CHECK(str_of(set, "meta-type") == "command");
    // 'boxed': the argument type is MigrationParameters itself.
    CHECK(str_of(set, "arg-type") == str_of(query, "ret-type"));
    const JsonValue& params = s.type_of(query, "ret-type");
    const std::vector<std::string> expected = {
        "announce-initial", "announce-max", "announce-rounds", "announce-step",
        "throttle-trigger-threshold", "cpu-throttle-initial", "cpu-throttle-increment",
        "cpu-throttle-tailslow", "max-cpu-throttle", "max-bandwidth",
        "avail-switchover-bandwidth", "downtime-limit", "multifd-channels", "mode",
        "zero-page-detection", "cpr-exec-command", "backend-transfer", "xbzrle",
        "rdma-pin-all", "auto-converge", "zero-blocks", "events", "postcopy-ram", "x-colo",
        "release-ram", "return-path", "pause-before-switchover", "multifd", "dirty-bitmaps",
        "postcopy-blocktime", "late-block-activate", "x-ignore-shared", "validate-uuid",
        "background-snapshot", "zero-copy-send", "postcopy-preempt", "switchover-ack",
        "dirty-limit", "mapped-ram"};
    CHECK(member_names(params) == expected);
    for (const auto& m : params["members"].GetArray()) {
        INFO(Json(m).str());
        CHECK(m.HasMember("default"));  // every member is optional
        const std::string name = str_of(m, "name");
        std::vector<std::string> want;
        if (name == "backend-transfer" || name == "x-colo" || name == "x-ignore-shared") {
            want = {"unstable"};
        } else if (name == "zero-blocks") {
            want = {"deprecated"};
        }
        CHECK(features_of(m) == want);
    }
    // Integer types of every width, and size, are "int" on the wire.
    CHECK(str_of(*s.member(params, "announce-initial"), "type") == "int");
    CHECK(str_of(*s.member(params, "multifd-channels"), "type") == "int");
    CHECK(str_of(*s.member(params, "events"), "type") == "bool");
    CHECK(str_of(*s.member(params, "cpr-exec-command"), "type") == "[str]");
    const JsonValue& mode = s.type_of(*s.member(params, "mode"), "type");
    CHECK(member_names(mode) ==
          std::vector<std::string>{"normal", "cpr-reboot", "cpr-transfer", "cpr-exec"});
    const JsonValue& bt = s.type_of(*s.member(params, "backend-transfer"), "type");
    CHECK(str_of(bt, "meta-type") == "array");
    CHECK(member_names(s.type_of(bt, "element-type")) == std::vector<std::string>{"virtio-net-tap"});

    // Capabilities: the enum carries its members' features.
    const JsonValue& caps = s.type_of(s["query-migrate-capabilities"], "ret-type");
    const JsonValue& status = s.type_of(caps, "element-type");
    const JsonValue& cap = s.type_of(*s.member(status, "capability"), "type");
    CHECK(member_names(cap).size() == 22);
    for (const auto& m : cap["members"].GetArray()) {
        const std::string name = str_of(m, "name");
        INFO(name);
        if (name == "zero-blocks") CHECK(features_of(m) == std::vector<std::string>{"deprecated"});
        else if (name == "x-colo" || name == "x-ignore-shared")
            CHECK(features_of(m) == std::vector<std::string>{"unstable"});
        else CHECK(features_of(m).empty());
    }

    // No arguments and no return: the empty object, as QEMU's q_empty.
    const JsonValue& cancel = s["migrate_cancel"];
    CHECK(str_of(cancel, "arg-type") == str_of(cancel, "ret-type"));
    CHECK(s.type_of(cancel, "arg-type")["members"].Size() == 0);
    CHECK(str_of(s["MIGRATION"], "meta-type") == "event");
    CHECK(member_names(s.type_of(s["MIGRATION_PASS"], "arg-type")) ==
          std::vector<std::string>{"pass"});
}

TEST_CASE("introspection: MigrationAddress is a flat union with nested SocketAddress") {
    Schema s(false);
    const JsonValue& migrate = s.type_of(s["migrate"], "arg-type");
    const JsonValue& channels = s.type_of(*s.member(migrate, "channels"), "type");
    const JsonValue& channel = s.type_of(channels, "element-type");
    CHECK(member_names(channel) == std::vector<std::string>{"channel-type", "addr"});
    const JsonValue& addr = s.type_of(*s.member(channel, "addr"), "type");
    CHECK(str_of(addr, "tag") == "transport");
    CHECK(member_names(addr) == std::vector<std::string>{"transport"});
    std::map<std::string, const JsonValue*> variants;
    for (const auto& v : addr["variants"].GetArray()) variants[str_of(v, "case")] = &v;
    REQUIRE(variants.size() == 3);
    const JsonValue& socket = s.type_of(*variants["socket"], "type");
    CHECK(str_of(socket, "tag") == "type");
    CHECK(member_names(s.type_of(*variants["exec"], "type")) == std::vector<std::string>{"args"});
    const JsonValue& file = s.type_of(*variants["file"], "type");
    CHECK(member_names(file) == std::vector<std::string>{"filename", "offset"});
    CHECK_FALSE(s.member(file, "filename")->HasMember("default"));
    CHECK(s.member(file, "offset")->HasMember("default"));
}

TEST_CASE("introspection: deprecated-output=hide drops deprecated members and enum values") {
    Schema full(false), hidden(true);
    CHECK(full.by_name.size() == hidden.by_name.size());  // no deprecated entity
    const JsonValue& params = hidden.type_of(hidden["query-migrate-parameters"], "ret-type");
    CHECK(hidden.member(params, "zero-blocks") == nullptr);
    CHECK(hidden.member(params, "backend-transfer") != nullptr);  // unstable stays
    CHECK(member_names(params).size() ==
          member_names(full.type_of(full["query-migrate-parameters"], "ret-type")).size() - 1);
    for (const auto& [name, e] : hidden.by_name) {
        if (str_of(*e, "meta-type") == "enum") CHECK_FALSE(e->HasMember("values"));
        const bool mentions = Json(*e).str().find("\"deprecated\"") != std::string::npos;
        CHECK((!mentions || str_of(*e, "meta-type") == "enum"));
    }
    // QEMU keeps deprecated enum members (only 'values' goes).
    const JsonValue& caps = hidden.type_of(hidden["query-migrate-capabilities"], "ret-type");
    const JsonValue& cap = hidden.type_of(*hidden.member(hidden.type_of(caps, "element-type"),
                                                         "capability"),
                                          "type");
    CHECK(member_names(cap).size() == 22);
}

TEST_CASE("type registry: lookup of named structs and unions") {
    const TypeRegistry& types = schema::types();
    for (const char* name : {"MigrationParameters", "MigrationCapabilityStatus", "MigrationStats",
                             "MigrationInfo", "MigrationExecCommand", "FileMigrationArgs",
                             "MigrationAddress", "MigrationChannel", "SocketAddress",
                             "InetSocketAddress", "UnixSocketAddress", "SchemaInfo"}) {
        const TypeEntry* t = types.find(name);
        REQUIRE_MESSAGE(t, name);
        CHECK(t->name == name);
    }
    // Enums, command arguments, built-ins and unknown names are not types here.
    for (const char* name : {"MigMode", "q_obj_migrate_arg", "q_obj_MigrationAddress_base", "int",
                             "", "migrationparameters", "Nope"}) {
        CHECK_MESSAGE(types.find(name) == nullptr, name);
    }
    std::set<std::string_view> names;
    for (const auto& t : types) {
        CHECK_MESSAGE(names.insert(t.name).second, t.name);
        CHECK((t.parse != nullptr));
    }
    const TypeEntry* p = types.find("MigrationParameters");
    CHECK(p->member_count == 39);
    auto r = p->parse("multifd-channels=4,events=on", {});
    REQUIRE(r);
    CHECK(*r == R"({"multifd-channels": 4, "events": true})");
    r = p->parse(R"({"multifd-channels": 0})", {});
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Parameter 'multifd-channels' expects a value between 1 and 255");
    r = types.find("MigrationAddress")->parse("exec,args.0=true", "transport");
    REQUIRE(r);
    CHECK(*r == R"({"transport": "exec", "args": ["true"]})");
}

TEST_CASE("type registry: QEMU-style help") {
    const TypeRegistry& types = schema::types();
    CHECK(format_help(*types.find("MigrationChannel")) ==
          "MigrationChannel options:\n"
          "  channel-type=<main|cpr>        - (required) What it carries.\n"
          "  addr=<MigrationAddress>        - (required) Where it goes.\n");
    const std::string addr = format_help(*types.find("MigrationAddress"));
    CHECK(addr.rfind("MigrationAddress options:\n"
                     "  transport=<socket|exec|file>   - (required) The kind of address.\n",
                     0) == 0);
    CHECK(addr.find("  filename=<str>                 - (required) (when transport=file) "
                    "The file's name. (expects a non-empty string)\n") != std::string::npos);
    CHECK(addr.find("  offset=<uint64>                - (when transport=file) Where in the "
                    "file the stream starts. (default 0)\n") != std::string::npos);

    const std::string params = format_help(*types.find("MigrationParameters"));
    for (const char* line :
         {"  multifd-channels=<uint8>       - Number of parallel RAM channels when multifd "
          "is on. (expects a value between 1 and 255; default 2)\n",
          "  max-bandwidth=<size>           - Highest transfer rate in bytes per second. "
          "(default 134217728)\n",
          "  mode=<normal|cpr-reboot|cpr-transfer|cpr-exec> - How the guest is moved. "
          "(default normal)\n",
          "  cpr-exec-command=<list of str> - For cpr-exec: the command (argv) that starts "
          "the new molt; it should include `-incoming` with the state URI. (default [])\n",
          "  events=<bool>                  - See MigrationCapability. (default off)\n"}) {
        CHECK_MESSAGE(params.find(line) != std::string::npos, line);
    }
    // One line per member, after the title; no member is required.
    size_t lines = 0;
    for (char c : params) lines += c == '\n';
    CHECK(lines == 40);
    CHECK(params.find("(required)") == std::string::npos);
}
