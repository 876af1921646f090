// Unit tests of the validators generated from the [[...]] annotations of
// schema/migration.json and schema/sockets.json: every range of
// MigrationParameters at both bounds (just inside passes, just outside fails
// with "Parameter 'NAME' expects DESCRIPTION") on JSON input, keyval input
// and molt::validate() of a value built in C++; the table of ranges is
// checked against the schema's own list (the keyval help registry), so a new
// annotation without a test fails here.  Also: apply_defaults() gives exactly
// the documented defaults (QEMU's, reference/migration.md section 1.1), the
// handwritten cross-member rule (schema/rules/migration_rules.cpp), length
// constraints inside unions and lists, and the -compat policies of
// runtime/visit.h against QEMU 7.2's behaviour and messages.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <string>

#include "qapi-keyval.h"
#include "qapi-validate-migration.h"
#include "qapi-validate-sockets.h"
#include "qapi-visit-migration.h"
#include "runtime/json.h"
#include "runtime/visit.h"

using namespace molt;
using namespace molt::api;

namespace {

template <class T>
Result<T> parse_json(std::string_view text, const CompatPolicy& policy = CompatPolicy{}) {
    auto doc = Json::parse(text);
    REQUIRE_MESSAGE(doc, text);
    return from_json<T>(doc->value(), policy);
}

std::string outcome(const Result<void>& r) { return r ? "ok" : r.error().message(); }
template <class T>
std::string outcome(const Result<T>& r) {
    return r ? "ok" : r.error().message();
}

// One range annotation of MigrationParameters.
struct RangeRow {
    const char* name;
    uint64_t lo, hi;     // valid bounds
    uint64_t type_max;   // the largest value the member's type holds
    const char* expects;
    void (*set)(MigrationParameters&, uint64_t);
};

template <class Opt>
void assign(Opt& member, uint64_t v) {
    member = static_cast<typename Opt::value_type>(v);
}

const RangeRow kRanges[] = {
    {"announce-initial", 0, 100000, UINT64_MAX, "a value between 0 and 100000",
     [](MigrationParameters& p, uint64_t v) { assign(p.announce_initial, v); }},
    {"announce-max", 0, 100000, UINT64_MAX, "a value between 0 and 100000",
     [](MigrationParameters& p, uint64_t v) { assign(p.announce_max, v); }},
    {"announce-rounds", 0, 1000, UINT64_MAX, "a value between 0 and 1000",
     [](MigrationParameters& p, uint64_t v) { assign(p.announce_rounds, v); }},
    {"announce-step", 1, 10000, UINT64_MAX, "a value between 1 and 10000",
     [](MigrationParameters& p, uint64_t v) { assign(p.announce_step, v); }},
    {"throttle-trigger-threshold", 1, 100, 255, "an integer in the range of 1 to 100",
     [](MigrationParameters& p, uint64_t v) { assign(p.throttle_trigger_threshold, v); }},
    {"cpu-throttle-initial", 1, 99, 255, "an integer in the range of 1 to 99",
     [](MigrationParameters& p, uint64_t v) { assign(p.cpu_throttle_initial, v); }},
    {"cpu-throttle-increment", 1, 99, 255, "an integer in the range of 1 to 99",
     [](MigrationParameters& p, uint64_t v) { assign(p.cpu_throttle_increment, v); }},
    {"max-cpu-throttle", 0, 99, 255, "a value between 0 and 99",
     [](MigrationParameters& p, uint64_t v) { assign(p.max_cpu_throttle, v); }},
    {"downtime-limit", 0, 2000000, UINT64_MAX, "an integer in the range of 0 to 2000000 ms",
     [](MigrationParameters& p, uint64_t v) { assign(p.downtime_limit, v); }},
    {"multifd-channels", 1, 255, 255, "a value between 1 and 255",
     [](MigrationParameters& p, uint64_t v) { assign(p.multifd_channels, v); }},
};

// The value's outcome on all three paths; they must agree.
std::string check_value(const RangeRow& row, uint64_t v) {
    const std::string num = std::to_string(v);
    const std::string json = "{\"" + std::string(row.name) + "\": " + num + "}";
    const std::string keyval = std::string(row.name) + "=" + num;
    MigrationParameters p;
    row.set(p, v);
    const std::string by_json = outcome(parse_json<MigrationParameters>(json));
    const std::string by_keyval = outcome(from_keyval<MigrationParameters>(keyval));
    const std::string by_cpp = outcome(validate(p));
    CHECK_MESSAGE(by_keyval == by_json, keyval);
    CHECK_MESSAGE(by_cpp == by_json, row.name << " = " << v << " built in C++");
    return by_json;
}

template <class T>
constexpr bool has_defaults = requires(T& v) { apply_defaults(v); };

// "expects X; default Y" -> X (or "").
std::string expects_in(std::string_view extra) {
    if (extra.rfind("expects ", 0) != 0) return "";
    auto end = extra.find("; default ");
    return std::string(extra.substr(8, end == std::string_view::npos ? end : end - 8));
}

}  // namespace

TEST_CASE("ranges of MigrationParameters: both bounds on JSON, keyval and C++ values") {
    for (const auto& row : kRanges) {
        INFO("member " << row.name);
        const std::string error = "Parameter '" + std::string(row.name) + "' expects " + row.expects;
        CHECK(check_value(row, row.lo) == "ok");
        CHECK(check_value(row, row.hi) == "ok");
        if (row.lo > 0) CHECK(check_value(row, row.lo - 1) == error);
        if (row.hi < row.type_max) CHECK(check_value(row, row.hi + 1) == error);
        if (row.type_max == UINT64_MAX) {
            CHECK(check_value(row, UINT64_MAX) == error);
            // JSON -1 wraps to 2^64-1 (QEMU), then fails the range.
            CHECK(outcome(parse_json<MigrationParameters>("{\"" + std::string(row.name) +
                                                          "\": -1}")) == error);
        } else {
            CHECK(outcome(parse_json<MigrationParameters>("{\"" + std::string(row.name) +
                                                          "\": 256}")) ==
                  "Parameter '" + std::string(row.name) + "' expects uint8_t");
        }
    }
}

TEST_CASE("ranges of MigrationParameters: the table covers every annotation of the schema") {
    const TypeEntry* type = schema::types().find("MigrationParameters");
    REQUIRE(type);
    std::map<std::string, std::string> in_schema;
    for (size_t i = 0; i < type->member_count; i++) {
        std::string e = expects_in(type->members[i].extra);
        if (!e.empty()) in_schema[std::string(type->members[i].name)] = e;
    }
    std::map<std::string, std::string> in_table;
    for (const auto& row : kRanges) in_table[row.name] = row.expects;
    CHECK(in_schema == in_table);
}

TEST_CASE("ranges: the first failing member is reported, in schema order") {
    auto r = parse_json<MigrationParameters>(
        R"({"multifd-channels": 0, "announce-step": 0, "downtime-limit": 2000001})");
    CHECK(outcome(r) == "Parameter 'announce-step' expects a value between 1 and 10000");
    // A type error is found while reading, before any range is checked.
    r = parse_json<MigrationParameters>(R"({"announce-step": 0, "events": 1})");
    CHECK(outcome(r) == "Invalid parameter type for 'events', expected: boolean");
}

TEST_CASE("apply_defaults gives exactly the documented defaults") {
    MigrationParameters p;
    apply_defaults(p);
    CHECK(to_json(p) ==
          R"({"announce-initial": 50, "announce-max": 550, "announce-rounds": 5, )"
          R"("announce-step": 100, "throttle-trigger-threshold": 50, )"
          R"("cpu-throttle-initial": 20, "cpu-throttle-increment": 10, )"
          R"("cpu-throttle-tailslow": false, "max-cpu-throttle": 99, )"
          R"("max-bandwidth": 134217728, "avail-switchover-bandwidth": 0, )"
          R"("downtime-limit": 300, "multifd-channels": 2, "mode": "normal", )"
          R"("zero-page-detection": "multifd", "cpr-exec-command": [], )"
          R"("backend-transfer": [], "xbzrle": false, "rdma-pin-all": false, )"
          R"("auto-converge": false, "zero-blocks": false, "events": false, )"
          R"("postcopy-ram": false, "x-colo": false, "release-ram": false, )"
          R"("return-path": false, "pause-before-switchover": false, "multifd": false, )"
          R"("dirty-bitmaps": false, "postcopy-blocktime": false, )"
          R"("late-block-activate": false, "x-ignore-shared": false, )"
          R"("validate-uuid": false, "background-snapshot": false, )"
          R"("zero-copy-send": false, "postcopy-preempt": false, "switchover-ack": false, )"
          R"("dirty-limit": false, "mapped-ram": false})");
    // The defaults are valid, the cross-member rule included.
    CHECK(outcome(validate(p)) == "ok");

    // Each default agrees with the one the help text documents.
    const TypeEntry* type = schema::types().find("MigrationParameters");
    REQUIRE(type);
    auto doc = Json::parse(to_json(p));
    REQUIRE(doc);
    CHECK(doc->value().MemberCount() == type->member_count);
    for (size_t i = 0; i < type->member_count; i++) {
        const MemberHelp& m = type->members[i];
        INFO("member " << m.name);
        auto pos = m.extra.find("default ");
        REQUIRE(pos != std::string_view::npos);
        std::string documented(m.extra.substr(pos + 8));
        const JsonValue& v = doc->value()[std::string(m.name).c_str()];
        std::string actual = v.IsBool() ? (v.GetBool() ? "on" : "off")
                             : v.IsString() ? std::string(v.GetString())
                                            : Json(v).str();
        CHECK(actual == documented);
    }
}

TEST_CASE("apply_defaults keeps members that are present") {
    MigrationParameters p;
    p.multifd_channels = 7;
    p.events = true;
    p.cpr_exec_command = std::vector<std::string>{"molt"};
    apply_defaults(p);
    CHECK(p.multifd_channels == std::optional<uint8_t>(7));
    CHECK(p.events == std::optional<bool>(true));
    CHECK(p.cpr_exec_command == std::optional<std::vector<std::string>>({"molt"}));
    CHECK(p.downtime_limit == std::optional<uint64_t>(300));

    FileMigrationArgs f;
    apply_defaults(f);
    CHECK(f.offset == std::optional<uint64_t>(0));
    f.offset = 4096;
    apply_defaults(f);
    CHECK(f.offset == std::optional<uint64_t>(4096));

    q_obj_migrate_incoming_arg in;
    apply_defaults(in);
    CHECK(in.exit_on_error == std::optional<bool>(true));
    CHECK_FALSE(in.uri.has_value());
    CHECK_FALSE(in.channels.has_value());

    InetSocketAddress inet;
    apply_defaults(inet);
    CHECK(inet.numeric == std::optional<bool>(false));

    // A union whose branches have defaults fills the selected branch.
    MigrationAddress file;
    file.transport = MigrationAddressType::File;
    file.u.file->filename = "/f";
    apply_defaults(file);
    CHECK(file.u.file->offset == std::optional<uint64_t>(0));

    // Types without documented defaults get no apply_defaults at all.
    static_assert(has_defaults<MigrationParameters> && has_defaults<FileMigrationArgs>);
    static_assert(has_defaults<MigrationAddress> && has_defaults<SocketAddress>);
    static_assert(!has_defaults<MigrationInfo> && !has_defaults<MigrationChannel>);
    static_assert(!has_defaults<MigrationStats>);
}

TEST_CASE("cross-member rule: max-cpu-throttle is at least cpu-throttle-initial") {
    const std::string error =
        "Parameter 'max-cpu-throttle' expects an integer in the range of cpu-throttle-initial to 99";
    CHECK(outcome(parse_json<MigrationParameters>(
              R"({"cpu-throttle-initial": 50, "max-cpu-throttle": 49})")) == error);
    CHECK(outcome(from_keyval<MigrationParameters>("cpu-throttle-initial=50,max-cpu-throttle=49")) ==
          error);
    CHECK(outcome(parse_json<MigrationParameters>(
              R"({"cpu-throttle-initial": 50, "max-cpu-throttle": 50})")) == "ok");
    // Only members present are related (a partial update is checked alone).
    CHECK(outcome(parse_json<MigrationParameters>(R"({"max-cpu-throttle": 0})")) == "ok");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"cpu-throttle-initial": 99})")) == "ok");

    MigrationParameters p;
    p.cpu_throttle_initial = 99;
    p.max_cpu_throttle = 98;
    CHECK(outcome(validate(p)) == error);
    p.max_cpu_throttle = 99;
    CHECK(outcome(validate(p)) == "ok");
    // Member ranges come first.
    p.max_cpu_throttle = 100;
    CHECK(outcome(validate(p)) == "Parameter 'max-cpu-throttle' expects a value between 0 and 99");

    // Defaults (initial 20, max 99) with a lowered maximum.
    MigrationParameters d;
    d.max_cpu_throttle = 10;
    apply_defaults(d);
    CHECK(outcome(validate(d)) == error);
}

TEST_CASE("length constraints in unions, lists and nested values") {
    MigrationChannel ch;
    ch.addr->transport = MigrationAddressType::Exec;
    CHECK(outcome(validate(ch)) == "Parameter 'addr.args' expects a non-empty list");
    ch.addr->u.exec->args = {"cat"};
    CHECK(outcome(validate(ch)) == "ok");
    // Only the selected branch is checked.
    ch.addr->transport = MigrationAddressType::Socket;
    ch.addr->u.socket->type = SocketAddressType::Unix;
    ch.addr->u.exec->args.clear();
    CHECK(outcome(validate(ch)) == "Parameter 'addr.path' expects a string of 1 to 107 characters");
    ch.addr->u.socket->u.unix_->path = std::string(107, 'p');
    CHECK(outcome(validate(ch)) == "ok");
    ch.addr->u.socket->u.unix_->path += 'p';
    CHECK(outcome(validate(ch)) == "Parameter 'addr.path' expects a string of 1 to 107 characters");
    ch.addr->u.socket->type = SocketAddressType::Inet;
    CHECK(outcome(validate(ch)) == "Parameter 'addr.port' expects a non-empty string");
    ch.addr->u.socket->type = SocketAddressType::Fd;
    CHECK(outcome(validate(ch)) == "Parameter 'addr.str' expects a non-empty string");

    q_obj_migrate_arg m;
    m.channels.emplace();
    CHECK(outcome(validate(m)) == "Parameter 'channels' expects a list of 1 to 2 elements");
    MigrationChannel good;
    good.addr->transport = MigrationAddressType::File;
    good.addr->u.file->filename = "vm.state";
    m.channels->push_back(good);
    m.channels->push_back(good);
    m.channels->back().addr->u.file->filename.clear();
    CHECK(outcome(validate(m)) == "Parameter 'channels[1].addr.filename' expects a non-empty string");
    m.channels->back() = good;
    CHECK(outcome(validate(m)) == "ok");
    m.channels->push_back(good);
    CHECK(outcome(validate(m)) == "Parameter 'channels' expects a list of 1 to 2 elements");

    q_obj_migrate_incoming_arg in;
    in.channels = std::vector<MigrationChannel>{good, good};
    CHECK(outcome(validate(in)) == "Parameter 'channels' expects a list of 1 to 1 elements");
    CHECK(outcome(from_keyval<q_obj_migrate_incoming_arg>(
              "channels.0.channel-type=main,channels.0.addr.transport=socket,"
              "channels.0.addr.type=unix,channels.0.addr.path=")) ==
          "Parameter 'channels.0.addr.path' expects a string of 1 to 107 characters");
}

TEST_CASE("compat policy, input: reject unstable and deprecated members and values") {
    CompatPolicy reject_unstable;
    reject_unstable.unstable_input = CompatInput::Reject;
    CompatPolicy reject_deprecated;
    reject_deprecated.deprecated_input = CompatInput::Reject;

    // QEMU 7.2: "Unstable parameter x-checkpoint-delay disabled by policy".
    CHECK(outcome(parse_json<MigrationParameters>(R"({"backend-transfer": ["virtio-net-tap"]})",
                                                  reject_unstable)) ==
          "Unstable parameter backend-transfer disabled by policy");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"x-colo": false})", reject_unstable)) ==
          "Unstable parameter x-colo disabled by policy");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"x-ignore-shared": true})",
                                                  reject_unstable)) ==
          "Unstable parameter x-ignore-shared disabled by policy");
    // The policy is applied before the value is read.
    CHECK(outcome(parse_json<MigrationParameters>(R"({"backend-transfer": 5})", reject_unstable)) ==
          "Unstable parameter backend-transfer disabled by policy");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"zero-blocks": true})", reject_deprecated)) ==
          "Deprecated parameter zero-blocks disabled by policy");
    // Each policy minds its own feature; stable members always pass.
    CHECK(outcome(parse_json<MigrationParameters>(R"({"zero-blocks": true})", reject_unstable)) ==
          "ok");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"backend-transfer": []})",
                                                  reject_deprecated)) == "ok");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"events": true, "multifd": true})",
                                                  reject_unstable)) == "ok");
    CHECK(outcome(parse_json<MigrationParameters>(R"({"backend-transfer": []})")) == "ok");

    // Enum values: QEMU 7.2 "Unstable value x-colo disabled by policy".
    CHECK(outcome(parse_json<MigrationCapabilityStatus>(R"({"capability": "x-colo", "state": true})",
                                                        reject_unstable)) ==
          "Unstable value x-colo disabled by policy");
    CHECK(outcome(parse_json<MigrationCapabilityStatus>(
              R"({"capability": "zero-blocks", "state": true})", reject_deprecated)) ==
          "Deprecated value zero-blocks disabled by policy");
    CHECK(outcome(parse_json<MigrationCapabilityStatus>(
              R"({"capability": "zero-blocks", "state": true})", reject_unstable)) == "ok");
    CHECK(outcome(parse_json<q_obj_migrate_set_capabilities_arg>(
              R"({"capabilities": [{"capability": "events", "state": true},
                                   {"capability": "x-ignore-shared", "state": true}]})",
              reject_unstable)) == "Unstable value x-ignore-shared disabled by policy");
}

TEST_CASE("compat policy, input: crash aborts the process") {
    auto dies = [](const char* json) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::signal(SIGABRT, SIG_DFL);  // not doctest's crash report
            CompatPolicy crash;
            crash.unstable_input = CompatInput::Crash;
            auto doc = Json::parse(json);
            auto r = doc ? from_json<MigrationParameters>(doc->value(), crash)
                         : Result<MigrationParameters>(Error("parse"));
            _exit(r ? 0 : 1);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    };
    CHECK(dies(R"({"backend-transfer": []})"));
    CHECK_FALSE(dies(R"({"events": true})"));
}

TEST_CASE("compat policy, output: hide unstable and deprecated members, not enum values") {
    MigrationParameters p;
    apply_defaults(p);
    CompatPolicy hide_unstable;
    hide_unstable.unstable_output = CompatOutput::Hide;
    CompatPolicy hide_deprecated;
    hide_deprecated.deprecated_output = CompatOutput::Hide;

    auto keys = [](const std::string& json) {
        auto doc = Json::parse(json);
        REQUIRE(doc);
        std::map<std::string, int> out;
        for (auto it = doc->value().MemberBegin(); it != doc->value().MemberEnd(); ++it) {
            out[it->name.GetString()] = 1;
        }
        return out;
    };
    auto all = keys(to_json(p));
    auto no_unstable = keys(to_json(p, hide_unstable));
    auto no_deprecated = keys(to_json(p, hide_deprecated));
    CHECK(all.size() == 39);
    CHECK(no_unstable.size() == 36);
    CHECK(no_unstable.count("backend-transfer") == 0);
    CHECK(no_unstable.count("x-colo") == 0);
    CHECK(no_unstable.count("x-ignore-shared") == 0);
    CHECK(no_unstable.count("zero-blocks") == 1);
    CHECK(no_deprecated.size() == 38);
    CHECK(no_deprecated.count("zero-blocks") == 0);
    CHECK(no_deprecated.count("backend-transfer") == 1);

    // QEMU 7.2 keeps unstable and deprecated enum values in output
    // (query-migrate-capabilities lists x-colo under unstable-output=hide).
    CompatPolicy hide_all;
    hide_all.unstable_output = CompatOutput::Hide;
    hide_all.deprecated_output = CompatOutput::Hide;
    MigrationCapabilityStatus c;
    c.capability = MigrationCapability::XColo;
    CHECK(to_json(c, hide_all) == R"({"capability": "x-colo", "state": false})");
    c.capability = MigrationCapability::ZeroBlocks;
    CHECK(to_json(c, hide_all) == R"({"capability": "zero-blocks", "state": false})");
}
