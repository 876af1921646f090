// receive_cpr_state(), gather_cpr_fds(); see cpr.h.
#include "vmm/cpr.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>

#include "qapi-types-sockets.h"
#include "runtime/fault_inject.h"
#include "runtime/socket.h"
#include "vmm/vmm.h"

namespace molt::vmm {

namespace {

const api::MigrationChannel* cpr_channel(const cli::CommandLine& cl) {
    for (const auto& s : cl.incoming) {
        if (s.channel.channel_type == api::MigrationChannelType::Cpr) return &s.channel;
    }
    return nullptr;
}

// Waits for one connection on the listener, or a signal.
Result<UniqueFd> accept_one(int listener, int signal_fd) {
    while (true) {
        pollfd p[2] = {{listener, POLLIN, 0}, {signal_fd, POLLIN, 0}};
        int n = poll(p, signal_fd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno(errno, "poll");
        if (p[1].revents & POLLIN) return Error("told to quit while waiting for the previous molt");
        UniqueFd conn = MOLT_TRY(accept_connection(listener));
        if (!conn) continue;
        // Blocking from here: the state is read with poll and a deadline.
        int flags = fcntl(conn.get(), F_GETFL);
        if (flags < 0 || fcntl(conn.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
            return Error::from_errno(errno, "fcntl");
        }
        return conn;
    }
}

}  // namespace

Result<CprIncoming> receive_cpr_state(const cli::CommandLine& cl, const migration::ParameterStore& params,
                                      int signal_fd) {
    CprIncoming in;
    if (!cl.incoming_pending()) return in;
    api::MigMode mode = params.mode();
    if (mode == api::MigMode::CprExec) {
        MOLT_TRY(fault::check("cpr-receive-state"));
        in.state = MOLT_TRY(migration::CprState::from_exec_env());
        return in;
    }
    if (mode != api::MigMode::CprTransfer) return in;
    const api::MigrationChannel* channel = cpr_channel(cl);
    if (!channel) {
        return Error("mode cpr-transfer: no cpr channel (-incoming '{\"channel-type\": \"cpr\", "
                     "\"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": ...}}')");
    }
    const std::string& path = channel->addr->u.socket->u.unix_->path;
    UniqueFd listener = MOLT_TRY(listen_unix(path));
    Result<UniqueFd> conn = accept_one(listener.get(), signal_fd);
    if (!conn) return Error(conn.error()).with_context("cpr channel unix:" + path);
    listener.reset();
    // Only a process of this user may hand over memory and TAPs.
    Result<void> same = check_peer_is_same_user(conn->get());
    if (!same) return Error(same.error()).with_context("cpr channel unix:" + path);
    Result<void> step = fault::check("cpr-receive-state");
    Result<migration::CprState> state = step ? migration::CprState::receive(conn->get(), kCprStateTimeoutMs)
                                             : Result<migration::CprState>(step.error());
    if (!state) return Error(state.error()).with_context("cpr channel unix:" + path);
    in.state = std::move(*state);
    in.channel = std::move(*conn);
    return in;
}

Result<migration::CprState> gather_cpr_fds(const Vmm& vmm) {
    migration::CprState state;
    for (const auto& b : vmm.memory) {
        if (!b->shared() || b->fd() < 0) {
            return Error("Memory region " + b->id() + " is not compatible with CPR. share=on is "
                         "required for memory-backend objects, and aux-ram-share=on is required.");
        }
        UniqueFd fd(fcntl(b->fd(), F_DUPFD_CLOEXEC, 3));
        if (!fd) return Error::from_errno(errno, "dup");
        state.add(hw::MemoryBackend::cpr_fd_name(b->id()), 0, std::move(fd));
    }
    // backend-transfer: each TAP, its interface and its queued frames kept.
    if (vmm.params.transfers(api::BackendTransfer::VirtioNetTap) && vmm.machine) {
        for (size_t i = 0; i < vmm.machine->net_count(); ++i) {
            UniqueFd fd(fcntl(vmm.machine->net_fd(i), F_DUPFD_CLOEXEC, 3));
            if (!fd) return Error::from_errno(errno, "dup");
            state.add(hw::virtio::Tap::cpr_fd_name(vmm.machine->net_id(i)), 0, std::move(fd));
        }
    }
    return state;
}

}  // namespace molt::vmm
