// Fuzz target "qmp" (fuzz/README.md): bytes a QMP client sends, fed to a
// real QMP session (runtime/qmp: its JSON stream parser, the dispatcher's
// protocol checks, the generated marshallers and argument visitors of
// molt's whole command table, and the real handlers of vmm/ and
// migration/ on a VMM without a machine, as in -precreate).
//
// Input: one flags byte, then the client's bytes.
//   bit 0  precreate phase on (only 'allow-preconfig' commands)
//   bit 1  -compat deprecated-input=reject,unstable-input=reject
//   bit 2  -compat deprecated-output=hide,unstable-output=hide
// The bytes go through a socketpair the session reads until the client
// has hung up.  Every reply line must be a JSON object with "return" or
// "error" (an "error" with "class" and "desc" strings), and every event a
// sink receives must be well-formed JSON too; otherwise the target traps.
// Not run, since they reach outside the process (sockets, files, exec):
// migrate and migrate-incoming; their arguments are fuzzed by the
// "keyval" target's MigrationChannel and MigrationAddress.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "qapi-init-commands.h"
#include "runtime/event_loop.h"
#include "runtime/json.h"
#include "runtime/qmp/server.h"
#include "runtime/qmp/session.h"
#include "vmm/context.h"
#include "vmm/migration_control.h"
#include "vmm/run_state.h"
#include "vmm/self_announce.h"

namespace {

using namespace molt;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

class CheckingSink : public EventSink {
public:
    explicit CheckingSink(CompatPolicy p) : m_policy(p) {}
    const CompatPolicy& policy() const override { return m_policy; }
    void emit(std::string_view event, std::string_view data_json) override {
        check(!event.empty());
        if (!data_json.empty()) check(Json::parse(data_json).has_value());
    }

private:
    CompatPolicy m_policy;
};

void check_reply(std::string_view line) {
    Result<Json> reply = Json::parse(line);
    check(reply.has_value());
    const JsonValue& v = reply->value();
    check(v.IsObject());
    if (v.HasMember("error")) {
        const JsonValue& e = v["error"];
        check(e.IsObject() && e.HasMember("class") && e["class"].IsString() &&
              e.HasMember("desc") && e["desc"].IsString());
    } else {
        check(v.HasMember("return"));
    }
}

// Reads what the session wrote so far and checks each complete line.
void drain(int fd, std::string& pending) {
    char buf[65536];
    while (true) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        pending.append(buf, static_cast<size_t>(n));
    }
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
        check_reply(std::string_view(pending).substr(0, nl));
        pending.erase(0, nl + 1);
    }
}

CompatPolicy policy_of(uint8_t flags) {
    CompatPolicy p;
    if (flags & 2) p.deprecated_input = p.unstable_input = CompatInput::Reject;
    if (flags & 4) p.deprecated_output = p.unstable_output = CompatOutput::Hide;
    return p;
}

void run(uint8_t flags, std::string_view input) {
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd server_end(sv[0]), client(sv[1]);
    Result<EventLoop> loop = EventLoop::create();
    check(loop.has_value());
    Result<migration::ParameterStore> params = migration::ParameterStore::create({}, {}, nullptr);
    check(params.has_value());
    CompatPolicy policy = policy_of(flags);
    CheckingSink sink(policy);
    vmm::Vmm vmm(std::move(*params));
    vmm.loop = &*loop;
    vmm.events = &sink;
    vmm.migration = std::make_unique<vmm::MigrationControl>(vmm, *loop);
    vmm.announcer = std::make_unique<vmm::SelfAnnouncer>(*loop, vmm.machine);
    vmm.run_state = std::make_unique<vmm::RunStateMachine>(sink, api::RunState::Prelaunch, false);
    schema::register_commands(vmm.commands);
    qmp::Context ctx(vmm);
    qmp::Dispatcher dispatcher(vmm.commands, [&](qmp::SessionState& s, const qmp::CommandDef& def,
                                                 const JsonValue& args, JsonWriter& ret) -> Result<void> {
        if (def.name == "migrate" || def.name == "migrate-incoming") return Error("fuzz: not run");
        ctx.session = &s;
        Result<void> r = def.marshal(ctx, args, policy, ret);
        ctx.session = nullptr;
        return r;
    }, policy);
    dispatcher.set_precreate(flags & 1);
    vmm.dispatcher = &dispatcher;
    qmp::ServerLimits limits;
    qmp::Session session(std::move(server_end), UniqueFd(), dispatcher, limits);

    // The whole input fits the socket buffer (libFuzzer's -max_len is
    // far below it); the hang-up ends the session's reading.
    check(send(client.get(), input.data(), input.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(input.size()));
    shutdown(client.get(), SHUT_WR);
    std::string pending;
    while (session.on_readable()) drain(client.get(), pending);
    check(session.flush());
    drain(client.get(), pending);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) return 0;
    run(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    return 0;
}
