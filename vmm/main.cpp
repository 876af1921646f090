// molt: the VMM process (vmm/).  main() parses the command line, checks
// what this build cannot do yet, then creates, in this order: the
// migration parameter store (before anything else, so that backends can
// read the early parameters), the pid file, the QMP monitors and a serial
// socket (waiting for their first clients with wait=on), an optional
// precreate phase served over QMP, the memory backends, the machine and
// the run state; then it serves the event loop until quit or a signal.
// Any error before that ends the process with "molt: <message>", status
// 1, and removes what was created (sockets, pid file).
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>

#include "cli/command_line.h"
#include "qapi-init-commands.h"
#include "qapi-introspect.h"
#include "runtime/event_loop.h"
#include "runtime/fault_inject.h"
#include "runtime/qmp/server.h"
#include "vmm/context.h"
#include "vmm/cpr.h"
#include "vmm/exec_helper.h"
#include "vmm/machine_control.h"
#include "vmm/migration_control.h"
#include "vmm/self_announce.h"
#include "vmm/startup.h"

namespace molt::vmm {

namespace {

Result<void> marshal_query_qmp_schema(qmp::Context&, const JsonValue& args,
                                      const CompatPolicy& policy, JsonWriter& ret) {
    MOLT_TRY(qmp::expect_no_arguments(args, policy));
    ret.raw(schema::qmp_schema_json(policy.deprecated_output == CompatOutput::Hide));
    return ok();
}

CompatPolicy compat_policy(const api::CompatPolicy& c) {
    auto in = [](std::optional<api::CompatPolicyInput> v) {
        switch (v.value_or(api::CompatPolicyInput::Accept)) {
        case api::CompatPolicyInput::Reject: return CompatInput::Reject;
        case api::CompatPolicyInput::Crash: return CompatInput::Crash;
        default: return CompatInput::Accept;
        }
    };
    auto out = [](std::optional<api::CompatPolicyOutput> v) {
        return v.value_or(api::CompatPolicyOutput::Accept) == api::CompatPolicyOutput::Hide
                   ? CompatOutput::Hide : CompatOutput::Accept;
    };
    CompatPolicy p;
    p.deprecated_input = in(c.deprecated_input);
    p.deprecated_output = out(c.deprecated_output);
    p.unstable_input = in(c.unstable_input);
    p.unstable_output = out(c.unstable_output);
    return p;
}

std::string greeting() {
    return "{\"version\": {\"qemu\": {\"micro\": " + std::to_string(kQemuMicro) +
           ", \"minor\": " + std::to_string(kQemuMinor) + ", \"major\": " +
           std::to_string(kQemuMajor) + "}, \"package\": \"molt " + std::string(kVersion) +
           "\"}, \"capabilities\": [\"oob\"]}";
}

// SIGINT, SIGTERM and SIGHUP arrive on a signalfd in the event loop: the
// guest gets SHUTDOWN (host-signal) and molt exits cleanly.  Blocked from
// the start, so that no signal can end molt without removing its files.
Result<UniqueFd> block_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Error::from_errno(errno, "sigprocmask");
    signal(SIGPIPE, SIG_IGN);
    UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) return Error::from_errno(errno, "signalfd");
    return fd;
}

Result<void> watch_signals(EventLoop& loop, int signals, Vmm& vmm) {
    return loop.add(signals, EPOLLIN, [signals, &vmm](uint32_t) {
        signalfd_siginfo si{};
        while (read(signals, &si, sizeof(si)) == sizeof(si)) {
            std::fprintf(stderr, "molt: terminating on signal %u from pid %u\n", si.ssi_signo,
                         si.ssi_pid);
            vmm.run_state->shutdown(api::ShutdownCause::HostSignal);
            vmm.quit = true;
        }
    });
}

void apply_name(const cli::CommandLine& cl, Vmm& vmm) {
    if (!cl.name) return;
    vmm.name = cl.name->guest;
    if (cl.name->process) prctl(PR_SET_NAME, cl.name->process->c_str(), 0, 0, 0);
}

// Runs the loop while `more` holds and nobody asked to quit.
template <class Pred>
Result<void> serve_while(EventLoop& loop, const Vmm& vmm, Pred more) {
    while (!vmm.quit && more()) MOLT_TRY(loop.run_once(-1));
    return ok();
}

Result<void> run(const cli::CommandLine& cl) {
    UniqueFd signals = MOLT_TRY(block_signals());
    MOLT_TRY(fault::arm_from_environment());   // tests (runtime/fault_inject.h)
    MOLT_TRY(check_supported(cl));
    migration::ParameterStore params = MOLT_TRY(build_parameters(cl));
    Daemon daemon = MOLT_TRY(Daemon::start(cl.daemonize));
    PidFile pidfile = MOLT_TRY(PidFile::create(cl.pidfile));

    // The loop outlives the VMM: the vCPU thread, joined when the machine
    // goes, wakes it.
    EventLoop loop = MOLT_TRY(EventLoop::create());
    Vmm vmm(std::move(params));
    vmm.loop = &loop;
    apply_name(cl, vmm);
    vmm.incoming_defer = cl.incoming_defer;
    vmm.migration = std::make_unique<MigrationControl>(vmm, loop);
    vmm.announcer = std::make_unique<SelfAnnouncer>(loop, vmm.machine);
    schema::register_commands(vmm.commands);
    vmm.commands.add({"query-qmp-schema", marshal_query_qmp_schema, qmp::kAllowPreconfig, 0});

    qmp::Context ctx(vmm);
    CompatPolicy policy = compat_policy(cl.compat);
    qmp::Dispatcher dispatcher(vmm.commands, [&](qmp::SessionState& s, const qmp::CommandDef& def,
                                                 const JsonValue& args, JsonWriter& ret) {
        ctx.session = &s;
        Result<void> r = def.marshal(ctx, args, policy, ret);
        ctx.session = nullptr;
        return r;
    }, policy);
    vmm.dispatcher = &dispatcher;
    qmp::Server server(loop, dispatcher, greeting(), policy);
    vmm.events = &server;
    vmm.run_state = std::make_unique<RunStateMachine>(
        server, cl.incoming_pending() ? api::RunState::Inmigrate : api::RunState::Prelaunch,
        !cl.start_paused);
    MOLT_TRY(watch_signals(loop, signals.get(), vmm));
    MOLT_TRY(start_monitors(cl, server));
    std::unique_ptr<SerialSocket> serial_socket = MOLT_TRY(open_serial_socket(cl, loop));
    MOLT_TRY(serve_while(loop, vmm, [&] {   // wait=on
        return server.waiting() || (serial_socket && serial_socket->waiting());
    }));

    if (cl.precreate) {
        dispatcher.set_precreate(true);
        daemon.ready();
        MOLT_TRY(serve_while(loop, vmm, [&] { return dispatcher.precreate(); }));
    }
    NetWatch net_watch;
    SerialInput serial_input;
    if (!vmm.quit) {
        // A live update's new process: the old one's fds first (cpr.h).
        std::optional<hw::TcgEngine> engine = warm_accelerator(cl, vmm.params);
        CprIncoming cpr = MOLT_TRY(receive_cpr_state(cl, vmm.params, signals.get()));
        if (std::optional<int64_t> helper = cpr.state.exec_helper()) {
            reap_exec_helper(loop, static_cast<pid_t>(*helper));
        }
        migration::EarlyMigration early{vmm.params, cl.incoming_pending(), &cpr.state};
        MOLT_TRY(create_backends(cl, early, vmm.memory));
        vmm.machine = MOLT_TRY(create_machine(cl, vmm.memory, early, [&loop] { loop.wake(); }, std::move(engine)));
        MOLT_TRY(net_watch.watch(loop, *vmm.machine));
        if (serial_is_stdio(cl)) MOLT_TRY(serial_input.watch(loop, *vmm.machine));
        if (serial_socket) serial_socket->attach(*vmm.machine);
        if (MOLT_TRY(dump_dtb(cl, *vmm.machine))) return ok();
        vmm.vcpu_control = std::make_unique<MachineControl>(*vmm.machine);
        vmm.run_state->set_vcpus(vmm.vcpu_control.get());
        if (!cl.incoming_pending() && !cl.start_paused) MOLT_TRY(vmm.run_state->cont());
        MOLT_TRY(start_incoming(cl, *vmm.migration));
        // The main channel listens: the old process may connect it now.
        cpr.channel.reset();
        for (const std::string& fd : cpr.state.left()) {
            std::fprintf(stderr, "molt: the CPR state's %s was not used by any backend\n", fd.c_str());
        }
        daemon.ready();
    }
    std::optional<Error> fatal;
    MOLT_TRY(serve_while(loop, vmm, [&] {
        if (vmm.machine) {
            if (check_machine(*vmm.machine, *vmm.run_state, cl.no_reboot)) {
                vmm.quit = true;   // -no-reboot: the guest's reset ends molt
                return false;
            }
            net_watch.update(loop, *vmm.machine);
        }
        Result<void> m = vmm.migration->poll();
        if (!m) fatal = m.error();
        return !fatal;
    }));
    if (fatal) return *fatal;
    server.flush_all(1000);
    if (vmm.machine) vmm.machine->pause();
    return ok();
}

}  // namespace

}  // namespace molt::vmm

int main(int argc, char** argv) {
    using molt::cli::CommandLine;
    molt::Result<CommandLine> cl = molt::cli::parse_command_line(argc, argv);
    if (!cl) {
        std::fprintf(stderr, "molt: %s\n", cl.error().message().c_str());
        return 1;
    }
    switch (cl->action) {
    case CommandLine::Action::Version:
        std::printf("molt version %s (QMP interface of QEMU %d.%d)\n",
                    std::string(molt::vmm::kVersion).c_str(), molt::vmm::kQemuMajor,
                    molt::vmm::kQemuMinor);
        return 0;
    case CommandLine::Action::Help:
        std::fputs(molt::cli::usage_text().c_str(), stdout);
        return 0;
    case CommandLine::Action::ListHelp:
        std::fputs(cl->help_text.c_str(), stdout);
        return 0;
    case CommandLine::Action::Run:
        break;
    }
    molt::Result<void> r = molt::vmm::run(*cl);
    if (!r) {
        std::fprintf(stderr, "molt: %s\n", r.error().message().c_str());
        return 1;
    }
    return 0;
}
