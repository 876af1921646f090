// Unit tests of the QMP dispatcher (runtime/qmp/dispatch) and of fd
// passing over real UNIX socket pairs (runtime/socket).  The commands here
// are small hand-written marshallers: the dispatcher's protocol rules are
// what is under test; the generated marshallers are tested in the api and
// codegen lanes and end to end in the integration lane.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/enum_lookup.h"
#include "runtime/qmp/dispatch.h"
#include "runtime/socket.h"

namespace molt::qmp {
class Context {
public:
    int calls = 0;
    SessionState* session = nullptr;
};
}  // namespace molt::qmp

namespace {

using namespace molt;
using qmp::Context;

Result<void> marshal_negotiate(Context& ctx, const JsonValue&, const CompatPolicy&, JsonWriter& w) {
    ctx.session->negotiated = true;
    w.begin_object();
    w.end_object();
    return ok();
}

Result<void> marshal_count(Context& ctx, const JsonValue& args, const CompatPolicy& p,
                           JsonWriter& w) {
    MOLT_TRY(qmp::expect_no_arguments(args, p));
    w.int64(++ctx.calls);
    return ok();
}

Result<void> marshal_fail(Context&, const JsonValue&, const CompatPolicy&, JsonWriter&) {
    return Error("it failed", ErrorClass::DeviceNotFound);
}

struct Fixture {
    qmp::CommandTable table;
    Context ctx;
    qmp::SessionState session;
    qmp::Dispatcher dispatcher{table, [this](qmp::SessionState& s, const qmp::CommandDef& def,
                                             const JsonValue& args, JsonWriter& ret) {
        ctx.session = &s;
        return def.marshal(ctx, args, CompatPolicy{}, ret);
    }};
    Fixture() {
        table.add({"qmp_capabilities", marshal_negotiate, qmp::kAllowPreconfig, 0});
        table.add({"count", marshal_count, qmp::kAllowPreconfig, 0});
        table.add({"late", marshal_count, 0, 0});
        table.add({"quiet", marshal_count, qmp::kNoSuccessResponse, 0});
        table.add({"fail", marshal_fail, 0, 0});
        table.add({"fast", marshal_count, qmp::kAllowOob, 0});
        table.add({"old", marshal_count, 0, kFeatureDeprecated});
        table.add({"new", marshal_count, 0, kFeatureUnstable});
    }
    std::string send(std::string_view text) {
        return dispatcher.handle(session, Json::parse(text));
    }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "QMP dispatch: negotiation comes first, once") {
    CHECK(send(R"({"execute": "count"})") ==
          R"({"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})");
    CHECK(ctx.calls == 0);
    CHECK(send(R"({"execute": "qmp_capabilities", "id": 7})") == R"({"return": {}, "id": 7})");
    CHECK(send(R"({"execute": "count"})") == R"({"return": 1})");
    CHECK(send(R"({"execute": "qmp_capabilities"})") ==
          R"({"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}})");
}

TEST_CASE_FIXTURE(Fixture, "QMP dispatch: request shape, id echo, errors") {
    session.negotiated = true;
    CHECK(send("[1]") ==
          R"({"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}})");
    CHECK(send(R"({"id": [1, {"a": null}], "execute": "fail"})") ==
          R"({"id": [1, {"a": null}], "error": {"class": "DeviceNotFound", "desc": "it failed"}})");
    CHECK(send(R"({"execute": "count", "arguments": {"x": 1}})") ==
          R"({"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}})");
    CHECK(send(R"({"execute": "nosuch", "id": "a"})") ==
          R"({"id": "a", "error": {"class": "CommandNotFound", "desc": "The command nosuch has not been found"}})");
    CHECK(send(R"({"id": 1, "execute": "count", "x": 2})") ==
          R"({"id": 1, "error": {"class": "GenericError", "desc": "QMP input member 'x' is unexpected"}})");
    // A parse error from the stream parser is answered without an id.
    std::string r = dispatcher.handle(session, Error("JSON parse error, stray '@'"));
    CHECK(r == R"({"error": {"class": "GenericError", "desc": "JSON parse error, stray '@'"}})");
}

TEST_CASE_FIXTURE(Fixture, "QMP dispatch: no reply for success-response false, replies for its errors") {
    session.negotiated = true;
    CHECK(send(R"({"execute": "quiet"})").empty());
    CHECK(ctx.calls == 1);
    CHECK(send(R"({"execute": "quiet", "arguments": {"a": 1}})").find("is unexpected") !=
          std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "QMP dispatch: exec-oob needs the capability and the command's consent") {
    session.negotiated = true;
    CHECK(send(R"({"exec-oob": "fast"})") ==
          R"({"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}})");
    session.oob = true;
    CHECK(send(R"({"exec-oob": "fast"})") == R"({"return": 1})");
    CHECK(send(R"({"exec-oob": "count"})") ==
          R"({"error": {"class": "GenericError", "desc": "The command count does not support OOB"}})");
    CHECK(send(R"({"exec-oob": "fast", "execute": "fast"})") ==
          R"({"error": {"class": "GenericError", "desc": "QMP input member 'execute' clashes with 'exec-oob'"}})");
}

TEST_CASE_FIXTURE(Fixture, "QMP dispatch: the precreate phase admits allow-preconfig commands only") {
    session.negotiated = true;
    dispatcher.set_precreate(true);
    CHECK(send(R"({"execute": "late"})") ==
          R"({"error": {"class": "GenericError", "desc": "The command 'late' is permitted only after machine initialization has completed"}})");
    CHECK(send(R"({"execute": "count"})") == R"({"return": 1})");
    dispatcher.set_precreate(false);
    CHECK(send(R"({"execute": "late"})") == R"({"return": 2})");
}

TEST_CASE("fd passing: fds arrive with the bytes, close-on-exec, bounded per message") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd a(sv[0]), b(sv[1]);
    int p[2];
    REQUIRE(pipe(p) == 0);
    UniqueFd rd(p[0]), wr(p[1]);
    REQUIRE(send_with_fds(a.get(), "hello", {wr.get(), rd.get()}));
    char buf[16];
    std::vector<UniqueFd> fds;
    Result<size_t> n = recv_with_fds(b.get(), buf, sizeof(buf), fds);
    REQUIRE(n);
    CHECK(std::string(buf, *n) == "hello");
    REQUIRE(fds.size() == 2);
    CHECK((fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
    // The received write end writes into our pipe.
    REQUIRE(write(fds[0].get(), "x", 1) == 1);
    char c = 0;
    REQUIRE(read(rd.get(), &c, 1) == 1);
    CHECK(c == 'x');
    // More than kMaxFdsPerMessage cannot be sent; the kernel caps what arrives.
    std::vector<int> many(kMaxFdsPerMessage + 1, wr.get());
    CHECK_FALSE(send_with_fds(a.get(), "y", many));
    // Nothing pending: EAGAIN, reported as such.
    Result<size_t> none = recv_with_fds(b.get(), buf, sizeof(buf), fds);
    REQUIRE_FALSE(none);
    CHECK(none.error().errno_value() == EAGAIN);
}

TEST_CASE("listen_unix: mode 0600, stale sockets replaced, other files kept") {
    char dir[] = "/tmp/molt-sock-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    std::string path = std::string(dir) + "/s";
    {
        UniqueFd l = *listen_unix(path);
        struct stat st {};
        REQUIRE(stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
    }
    // The socket file outlives its fd: a stale socket, replaced.
    CHECK(listen_unix(path));
    unlink(path.c_str());
    int f = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
    close(f);
    Result<UniqueFd> r = listen_unix(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Failed to bind socket to " + path + ": File exists");
    unlink(path.c_str());
    rmdir(dir);
}

TEST_CASE("QMP dispatch: -compat decides about deprecated and unstable commands") {
    qmp::CommandTable table;
    table.add({"qmp_capabilities", marshal_negotiate, 0, 0});
    table.add({"old", marshal_count, 0, kFeatureDeprecated});
    table.add({"new", marshal_count, 0, kFeatureUnstable});
    Context ctx;
    qmp::SessionState session;
    session.negotiated = true;
    CompatPolicy policy;
    policy.deprecated_input = CompatInput::Reject;
    qmp::Dispatcher d(table, [&](qmp::SessionState& s, const qmp::CommandDef& def,
                                 const JsonValue& args, JsonWriter& ret) {
        ctx.session = &s;
        return def.marshal(ctx, args, policy, ret);
    }, policy);
    CHECK(d.handle(session, Json::parse(R"({"execute": "old"})")) ==
          R"({"error": {"class": "CommandNotFound", "desc": "Deprecated command old disabled by policy"}})");
    CHECK(d.handle(session, Json::parse(R"({"execute": "new"})")) == R"({"return": 1})");
}
