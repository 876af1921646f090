// Unit tests of the visitors generated from molt's real schema (the
// migration module): JSON and keyval input -> C++ value -> JSON output and
// back, for MigrationParameters (every member kind), capabilities, the
// MigrationAddress flat union inside MigrationChannel, and MigrationInfo /
// MigrationStats; error texts are QEMU 7.2's input-visitor messages.  Most
// cases are the shared vectors of tests/vectors/migration-parameters.json
// (MOLT_VECTORS): {"type", "input", "output"?} or {"type", "input",
// "error"}, an object input being JSON and a string input keyval.  Each
// vector runs through the type registry by name (named types) and through
// the typed entry points, where the value must survive a second trip.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "qapi-keyval.h"
#include "qapi-visit-migration.h"
#include "qapi-visit-sockets.h"
#include "runtime/json.h"
#include "runtime/visit.h"
#include "test_support.h"

using namespace molt;
using namespace molt::api;
using molt::test::read_vectors;
using molt::test::read_trip_vector;
using molt::test::typed_trip;
using molt::test::TypedTrip;

namespace {

const std::map<std::string, TypedTrip>& typed_trips() {
    static const std::map<std::string, TypedTrip> trips = {
        {"MigrationParameters", &typed_trip<MigrationParameters>},
        {"MigrationCapabilityStatus", &typed_trip<MigrationCapabilityStatus>},
        {"q_obj_migrate_set_capabilities_arg", &typed_trip<q_obj_migrate_set_capabilities_arg>},
        {"MigrationAddress", &typed_trip<MigrationAddress>},
        {"MigrationChannel", &typed_trip<MigrationChannel>},
        {"q_obj_migrate_arg", &typed_trip<q_obj_migrate_arg>},
        {"q_obj_migrate_incoming_arg", &typed_trip<q_obj_migrate_incoming_arg>},
        {"MigrationStats", &typed_trip<MigrationStats>},
        {"MigrationInfo", &typed_trip<MigrationInfo>},
    };
    return trips;
}

template <class T>
std::string error_of(const Result<T>& r) {
    REQUIRE_FALSE(r);
    return r.error().message();
}

template <class T>
Result<T> parse_json(std::string_view text, const CompatPolicy& policy = CompatPolicy{}) {
    auto doc = Json::parse(text);
    REQUIRE_MESSAGE(doc, text);
    return from_json<T>(doc->value(), policy);
}

}  // namespace

TEST_CASE("migration vectors: through the registry and typed") {
    auto doc = Json::parse(read_vectors("migration-parameters.json"));
    REQUIRE(doc);
    REQUIRE(doc->value().IsArray());
    REQUIRE(doc->value().Size() >= 100);
    size_t index = 0, errors = 0, keyval = 0;
    for (const auto& vec : doc->value().GetArray()) {
        const auto t = read_trip_vector(vec, index);   // (no binding: doctest's INFO captures)
        const std::string& type = t.type;
        const std::string& input_text = t.input_text;
        const JsonValue* input_ptr = t.input;
        const std::string& expected = t.expected;
        const bool is_error = t.is_error;
        const JsonValue& input = *input_ptr;
        errors += is_error;
        keyval += input.IsString();
        INFO("vector " << index << ": " << type << " " << input_text);

        // Command argument types (q_obj_*) have no registry entry.
        const TypeEntry* entry = schema::types().find(type);
        if (type.rfind("q_obj_", 0) != 0) {
            REQUIRE_MESSAGE(entry, "type " << type << " is not in the registry");
            auto r = entry->parse(input_text, {});
            CHECK((r ? *r : "error: " + r.error().message()) == expected);
        } else {
            CHECK(entry == nullptr);
        }

        auto typed = typed_trips().find(type);
        REQUIRE_MESSAGE(typed != typed_trips().end(), "no typed trip for " << type);
        CHECK(typed->second(input) == expected);
        index++;
    }
    CHECK(errors >= 50);
    CHECK(keyval >= 30);
}

TEST_CASE("MigrationParameters built in C++: optional members, lists, enums") {
    MigrationParameters p;
    CHECK(to_json(p) == "{}");
    p.downtime_limit = 300;
    p.multifd_channels = 8;
    p.max_bandwidth = UINT64_MAX;
    p.mode = MigMode::CprTransfer;
    p.cpr_exec_command = std::vector<std::string>{"molt", "-incoming", "\"quoted\"\n"};
    p.backend_transfer = std::vector<BackendTransfer>{BackendTransfer::VirtioNetTap};
    p.events = false;
    p.mapped_ram = true;
    const std::string text = to_json(p);
    CHECK(text ==
          R"({"max-bandwidth": 18446744073709551615, "downtime-limit": 300, )"
          R"("multifd-channels": 8, "mode": "cpr-transfer", )"
          R"("cpr-exec-command": ["molt", "-incoming", "\"quoted\"\n"], )"
          R"("backend-transfer": ["virtio-net-tap"], "events": false, "mapped-ram": true})");

    auto back = parse_json<MigrationParameters>(text);
    REQUIRE(back);
    CHECK(*back == p);
    CHECK(back->multifd_channels == std::optional<uint8_t>(8));
    CHECK_FALSE(back->announce_initial.has_value());
    CHECK_FALSE(back->zero_blocks.has_value());

    // An empty list is a value, distinct from an absent member.
    MigrationParameters empty_list;
    empty_list.cpr_exec_command.emplace();
    CHECK(to_json(empty_list) == R"({"cpr-exec-command": []})");
    CHECK_FALSE(empty_list == MigrationParameters{});
}

TEST_CASE("MigrationParameters: the pretty style indents by four") {
    MigrationParameters p;
    p.events = true;
    p.cpr_exec_command = std::vector<std::string>{"a"};
    CHECK(to_json(p, CompatPolicy{}, JsonWriter::Style::Pretty) ==
          "{\n    \"cpr-exec-command\": [\n        \"a\"\n    ],\n    \"events\": true\n}");
}

TEST_CASE("MigrationInfo and MigrationStats: output as query-migrate gives it") {
    MigrationInfo info;
    info.status = MigrationStatus::Active;
    MigrationStats& ram = *info.ram.emplace();
    ram.transferred = 1073741824;
    ram.remaining = 0;
    ram.total = 4294967296;
    ram.duplicate = 1000;
    ram.normal = 262144;
    ram.normal_bytes = 1073741824;
    ram.dirty_pages_rate = -1;
    ram.mbps = 0.1;  // %.17g, as QEMU prints doubles
    ram.dirty_sync_count = 2;
    ram.page_size = 4096;
    ram.multifd_bytes = UINT64_MAX;
    ram.pages_per_second = 42;
    info.total_time = 1500;
    info.expected_downtime = 300;
    info.setup_time = 2;
    info.blocked_reasons = std::vector<std::string>{};
    CHECK(to_json(info) ==
          R"({"status": "active", "ram": {"transferred": 1073741824, "remaining": 0, )"
          R"("total": 4294967296, "duplicate": 1000, "normal": 262144, )"
          R"("normal-bytes": 1073741824, "dirty-pages-rate": -1, )"
          R"("mbps": 0.10000000000000001, "dirty-sync-count": 2, "page-size": 4096, )"
          R"("multifd-bytes": 18446744073709551615, "pages-per-second": 42, )"
          R"("precopy-bytes": 0, "downtime-bytes": 0, "postcopy-bytes": 0}, )"
          R"("total-time": 1500, "expected-downtime": 300, "setup-time": 2, )"
          R"("blocked-reasons": []})");

    MigrationInfo done;
    done.status = MigrationStatus::Completed;
    done.downtime = 0;
    done.error_desc = "none\t\x01";
    CHECK(to_json(done) ==
          R"({"status": "completed", "downtime": 0, "error-desc": "none\t\u0001"})");

    // Every MigrationStatus value has its wire name.
    const char* names[] = {"none", "setup", "cancelling", "cancelled", "active",
                           "postcopy-active", "postcopy-paused", "postcopy-recover-setup",
                           "postcopy-recover", "completed", "failed", "colo",
                           "pre-switchover", "device", "wait-unplug"};
    for (int i = 0; i < 15; i++) {
        MigrationInfo s;
        s.status = static_cast<MigrationStatus>(i);
        CHECK(to_json(s) == std::string(R"({"status": ")") + names[i] + "\"}");
    }
}

TEST_CASE("MigrationAddress built in C++: only the selected branch is written") {
    MigrationAddress a;
    a.transport = MigrationAddressType::Socket;
    SocketAddress& s = *a.u.socket;
    s.type = SocketAddressType::Unix;
    s.u.unix_->path = "/run/molt/cpr.sock";
    a.u.exec->args = {"not", "selected"};  // ignored: transport is socket
    CHECK(to_json(a) == R"({"transport": "socket", "type": "unix", "path": "/run/molt/cpr.sock"})");

    MigrationChannel ch;
    ch.channel_type = MigrationChannelType::Cpr;
    ch.addr = a;
    const std::string text = to_json(ch);
    CHECK(text == R"({"channel-type": "cpr", "addr": {"transport": "socket", "type": "unix", )"
                  R"("path": "/run/molt/cpr.sock"}})");
    auto back = parse_json<MigrationChannel>(text);
    REQUIRE(back);
    CHECK(back->addr->transport == MigrationAddressType::Socket);
    CHECK(back->addr->u.socket->u.unix_->path == "/run/molt/cpr.sock");
    CHECK(to_json(*back) == text);

    MigrationAddress f;
    f.transport = MigrationAddressType::File;
    f.u.file->filename = "vm.state";
    f.u.file->offset = 0;
    CHECK(to_json(f) == R"({"transport": "file", "filename": "vm.state", "offset": 0})");
}

TEST_CASE("capability lists: query-migrate-capabilities output, list input paths") {
    std::vector<MigrationCapabilityStatus> caps(2);
    caps[0].capability = MigrationCapability::ZeroBlocks;
    caps[0].state = true;
    caps[1].capability = MigrationCapability::MappedRam;
    std::string text;
    {
        JsonWriter w(text);
        Output out(w);
        visit_out_list(out, caps, &visit_out_MigrationCapabilityStatus);
    }
    CHECK(text == R"([{"capability": "zero-blocks", "state": true}, )"
                  R"({"capability": "mapped-ram", "state": false}])");

    // A list at the root: element paths start with the index, as QEMU's.
    auto read = [](std::string_view json) -> Result<std::vector<MigrationCapabilityStatus>> {
        auto doc = Json::parse(json);
        REQUIRE(doc);
        Input in(InputMode::Json);
        std::vector<MigrationCapabilityStatus> out;
        MOLT_TRY(visit_in_list(in, doc->value(), out, &visit_in_MigrationCapabilityStatus));
        return out;
    };
    auto back = read(text);
    REQUIRE(back);
    CHECK(*back == caps);
    CHECK(error_of(read(R"([{"capability": "events", "state": true}, {"capability": "events"}])")) ==
          "Parameter '[1].state' is missing");
    CHECK(error_of(read(R"({"capability": "events"})")) ==
          "Invalid parameter type for '<anonymous>', expected: array");

    // Every capability name round-trips through its enum.
    const EnumLookup& lookup = enum_lookup(MigrationCapability{});
    CHECK(lookup.count == 22);
    for (int i = 0; i < lookup.count; i++) {
        std::string json = std::string(R"({"capability": ")") +
                           std::string(lookup.name(i)) + R"(", "state": true})";
        auto c = parse_json<MigrationCapabilityStatus>(json);
        REQUIRE_MESSAGE(c, json);
        CHECK(static_cast<int>(c->capability) == i);
        CHECK(to_json(*c) == json);
    }
}

TEST_CASE("from_str: JSON iff the text starts with '{', else keyval") {
    auto j = from_str<MigrationParameters>(R"({"events": true, "multifd-channels": 4})");
    REQUIRE(j);
    CHECK(to_json(*j) == R"({"multifd-channels": 4, "events": true})");
    // JSON input keeps strict types: no coercion of strings.
    CHECK(error_of(from_str<MigrationParameters>(R"({"events": "on"})")) ==
          "Invalid parameter type for 'events', expected: boolean");
    CHECK(error_of(from_str<MigrationParameters>(R"({"max-bandwidth": "1G"})")) ==
          "Parameter 'max-bandwidth' expects uint64");
    auto k = from_str<MigrationParameters>("events=on,multifd-channels=4");
    REQUIRE(k);
    CHECK(*k == *j);
    // A leading space means keyval, where '{' cannot start a key.
    CHECK_FALSE(from_str<MigrationParameters>(R"( {"events": true})"));
    // from_keyval never reads JSON.
    CHECK_FALSE(from_keyval<MigrationParameters>(R"({"events": true})"));
    // The root must be an object; QEMU names it '<anonymous>'.
    CHECK(error_of(parse_json<MigrationParameters>("[]")) ==
          "Invalid parameter type for '<anonymous>', expected: object");
    // Broken JSON reports the parser's error.
    CHECK_FALSE(from_str<MigrationParameters>(R"({"events": )"));
}

TEST_CASE("keyval: implied key and the union discriminator by keyval") {
    auto ch = from_str<MigrationChannel>("main,addr.transport=socket,addr.type=inet,"
                                         "addr.host=localhost,addr.port=4444",
                                         "channel-type");
    REQUIRE(ch);
    CHECK(ch->channel_type == MigrationChannelType::Main);
    CHECK(ch->addr->u.socket->u.inet->host == "localhost");
    CHECK(to_json(*ch) == R"({"channel-type": "main", "addr": {"transport": "socket", )"
                          R"("type": "inet", "host": "localhost", "port": "4444"}})");

    auto a = from_keyval<MigrationAddress>("file,filename=/tmp/vm.state,offset=1024",
                                           "transport");
    REQUIRE(a);
    CHECK(a->transport == MigrationAddressType::File);
    CHECK(a->u.file->offset == std::optional<uint64_t>(1024));

    // The last of two equal keys wins, as in QEMU's keyval.
    auto p = from_keyval<MigrationParameters>("multifd-channels=2,multifd-channels=3");
    REQUIRE(p);
    CHECK(p->multifd_channels == std::optional<uint8_t>(3));
    CHECK(error_of(from_keyval<MigrationParameters>("events=on,events.x=1")) ==
          "Parameters 'events.*' used inconsistently");
}

TEST_CASE("JSON output escapes strings to ASCII, as QEMU's") {
    MigrationParameters p;
    p.cpr_exec_command = std::vector<std::string>{"caf\xc3\xa9", "\x7f", "\xff"};
    CHECK(to_json(p) == R"({"cpr-exec-command": ["caf\u00E9", "\u007F", "\uFFFD"]})");
}

TEST_CASE("built-in readers the migration schema does not use: null and any") {
    auto doc = Json::parse(R"({"n": null, "one": 1, "tree": {"a": [1, "b", null]}})");
    REQUIRE(doc);
    const JsonValue& v = doc->value();
    Input in(InputMode::Json);
    std::nullptr_t n = nullptr;
    CHECK(visit_in_null(in, v["n"], n));
    {
        auto scope = in.path().member("one");
        auto r = visit_in_null(in, v["one"], n);
        REQUIRE_FALSE(r);
        CHECK(r.error().message() == "Invalid parameter type for 'one', expected: null");
    }
    Json any;
    CHECK(visit_in_any(in, v["tree"], any));
    CHECK(any.str() == R"({"a": [1, "b", null]})");
    // Keyval cannot express null: a string is not null.
    Input kv(InputMode::Keyval);
    auto s = Json::string("null");
    auto r = visit_in_null(kv, s.value(), n);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Invalid parameter type for '<anonymous>', expected: null");
}
