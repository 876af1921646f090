// QMP handlers for the session and the process: qmp_capabilities,
// query-version, query-commands, getfd, closefd, precreate-exit,
// query-name, quit, query-status, stop, cont, system_reset, query-memdev,
// x-query-cpu-state, x-query-machine-state.
#include <cctype>

#include "qapi-commands-control.h"
#include "qapi-commands-machine.h"
#include "qapi-commands-machine-state.h"
#include "qapi-commands-run-state.h"
#include "vmm/context.h"

namespace molt::api {

using qmp::Context;

Result<void> qmp_qmp_capabilities(Context& ctx, const std::optional<std::vector<QMPCapability>>& enable) {
    bool oob = false;
    if (enable) {
        for (QMPCapability c : *enable) oob = oob || c == QMPCapability::Oob;
    }
    ctx.session->negotiated = true;
    ctx.session->oob = oob;
    return ok();
}

Result<VersionInfo> qmp_query_version(Context&) {
    VersionInfo v{};
    v.qemu->major = vmm::kQemuMajor;
    v.qemu->minor = vmm::kQemuMinor;
    v.qemu->micro = vmm::kQemuMicro;
    v.package = "molt " + std::string(vmm::kVersion);
    return v;
}

Result<std::vector<CommandInfo>> qmp_query_commands(Context& ctx) {
    std::vector<CommandInfo> out;
    for (const auto& c : ctx.vmm.commands.all()) {
        CommandInfo info{};
        info.name = std::string(c.name);
        out.push_back(std::move(info));
    }
    return out;
}

Result<void> qmp_getfd(Context& ctx, const std::string& fdname) {
    if (ctx.session->passed_fds.empty()) return Error("No file descriptor supplied via SCM_RIGHTS");
    if (std::isdigit(static_cast<unsigned char>(fdname[0]))) {
        ctx.session->passed_fds.pop_front();
        return Error("Parameter 'fdname' expects a name not starting with a digit");
    }
    if (ctx.vmm.named_fds.size() >= vmm::Vmm::kMaxNamedFds && !ctx.vmm.named_fds.count(fdname)) {
        ctx.session->passed_fds.pop_front();
        return Error("Too many named file descriptors (the limit is " + std::to_string(vmm::Vmm::kMaxNamedFds) +
                     "); close some with closefd first");
    }
    ctx.vmm.named_fds[fdname] = std::move(ctx.session->passed_fds.front());
    ctx.session->passed_fds.pop_front();
    return ok();
}

Result<void> qmp_closefd(Context& ctx, const std::string& fdname) {
    if (ctx.vmm.named_fds.erase(fdname) == 0) {
        return Error("File descriptor named '" + fdname + "' not found");
    }
    return ok();
}

Result<void> qmp_precreate_exit(Context& ctx) {
    if (!ctx.vmm.dispatcher->precreate()) {
        return Error("The command is permitted only in the precreate phase (-precreate)");
    }
    ctx.vmm.dispatcher->set_precreate(false);
    return ok();
}

Result<NameInfo> qmp_query_name(Context& ctx) {
    NameInfo n{};
    n.name = ctx.vmm.name;
    return n;
}

Result<void> qmp_quit(Context& ctx) {
    ctx.vmm.run_state->shutdown(ShutdownCause::HostQmpQuit);
    ctx.vmm.quit = true;
    return ok();
}

Result<StatusInfo> qmp_query_status(Context& ctx) {
    StatusInfo s{};
    s.status = ctx.vmm.run_state->state();
    s.running = ctx.vmm.run_state->running();
    s.singlestep = false;
    return s;
}

Result<void> qmp_stop(Context& ctx) {
    ctx.vmm.run_state->stop();
    return ok();
}

Result<void> qmp_cont(Context& ctx) { return ctx.vmm.run_state->cont(); }

Result<void> qmp_system_reset(Context& ctx) {
    return ctx.vmm.run_state->reset(ShutdownCause::HostQmpSystemReset);
}

Result<X86CpuState> qmp_x_query_cpu_state(Context& ctx) {
    if (!ctx.vmm.machine) return Error("the machine does not exist yet");
    return ctx.vmm.machine->cpu_state();
}

Result<MachineState> qmp_x_query_machine_state(Context& ctx) {
    if (!ctx.vmm.machine) return Error("the machine does not exist yet");
    return ctx.vmm.machine->query_state();
}

Result<std::vector<Memdev>> qmp_query_memdev(Context& ctx) {
    std::vector<Memdev> out;
    for (const auto& m : ctx.vmm.memory) out.push_back(m->info());
    return out;
}

}  // namespace molt::api
