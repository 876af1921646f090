// MigrationControl; see migration_control.h.
#include "vmm/migration_control.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "migration/engine/device_sections.h"
#include "migration/engine/tap_transfer.h"
#include "qapi-events-migration.h"
#include "qapi-types-sockets.h"
#include "runtime/fault_inject.h"
#include "runtime/socket.h"
#include "vmm/cpr.h"
#include "vmm/exec_helper.h"
#include "vmm/self_announce.h"
#include "vmm/vmm.h"

namespace molt::vmm {

using api::MigrationStatus;

namespace {

int64_t ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

MigrationControl::~MigrationControl() {
    // Threads end before the machine goes (their destructors cancel and join).
    m_out.reset();
    m_in.reset();
}

bool MigrationControl::active() const {
    return m_status && (*m_status == MigrationStatus::Setup || *m_status == MigrationStatus::Active ||
                        *m_status == MigrationStatus::Cancelling);
}

void MigrationControl::set_status(MigrationStatus status) {
    m_status = status;
    if (m_vmm.params.get().events.value_or(false)) api::emit_migration(*m_vmm.events, status);
}

Result<std::optional<migration::SharedRamId>> MigrationControl::shared_ram() const {
    std::span<const uint8_t> ram = m_vmm.machine->ram_view();
    for (const auto& b : m_vmm.memory) {
        if (b->host_view().data() == ram.data() && b->shared() && b->fd() >= 0) {
            return std::optional(MOLT_TRY(migration::shared_ram_id(b->fd(), b->size_bytes())));
        }
    }
    return std::optional<migration::SharedRamId>();
}

migration::TakeNamedFd MigrationControl::named_fds() {
    return [this](const std::string& name) -> Result<UniqueFd> {
        auto it = m_vmm.named_fds.find(name);
        if (it == m_vmm.named_fds.end()) return Error("File descriptor named '" + name + "' not found");
        UniqueFd fd = std::move(it->second);
        m_vmm.named_fds.erase(it);
        return fd;
    };
}

Result<migration::OutgoingConfig::Cpr> MigrationControl::cpr_transfer_setup(
        const api::MigrationAddress& addr, const std::optional<api::MigrationAddress>& cpr) const {
    using api::MigrationAddressType;
    using api::SocketAddressType;
    if (!cpr) return Error("mode cpr-transfer needs a cpr channel: migrate with channels [main, cpr]");
    if (cpr->transport != MigrationAddressType::Socket || cpr->u.socket->type != SocketAddressType::Unix) {
        return Error("the cpr channel must be a UNIX socket");
    }
    // The new process listens on the main address once it has the fds.
    if (addr.transport != MigrationAddressType::Socket || (addr.u.socket->type != SocketAddressType::Unix &&
                                                           addr.u.socket->type != SocketAddressType::Inet)) {
        return Error("mode cpr-transfer needs a unix or tcp main channel (the new process listens on it)");
    }
    if (addr.u.socket->type == SocketAddressType::Inet && addr.u.socket->u.inet->port == "0") {
        return Error("mode cpr-transfer cannot use port 0: the new process listens on a known port");
    }
    if (m_vmm.params.transfers(api::BackendTransfer::VirtioNetTap) &&
        addr.u.socket->type != SocketAddressType::Unix) {
        return Error("backend-transfer needs a UNIX socket main channel: the backends stay on this host");
    }
    migration::OutgoingConfig::Cpr c;
    c.path = cpr->u.socket->u.unix_->path;
    c.state = std::make_shared<migration::CprState>(MOLT_TRY(gather_cpr_fds(m_vmm)));
    return c;
}

Result<void> MigrationControl::migrate(const api::MigrationAddress& addr,
                                       const std::optional<api::MigrationAddress>& cpr_addr) {
    if (active() || m_in) return Error("There's a migration process in progress");
    if (m_vmm.run_state->state() == api::RunState::Inmigrate) {
        return Error("Guest is waiting for an incoming migration");
    }
    if (!m_vmm.machine) return Error("there is no machine to migrate yet");
    std::vector<std::string> blockers = m_vmm.machine->migration_blockers();
    if (!blockers.empty()) return Error(blockers.front());
    api::MigrationParameters p = m_vmm.params.get();
    api::MigMode mode = p.mode.value_or(api::MigMode::Normal);
    std::optional<migration::OutgoingConfig::Cpr> cpr;
    std::shared_ptr<migration::CprState> exec_state;
    // Every requirement is checked here, before the guest stops.
    if (mode == api::MigMode::CprTransfer) {
        cpr = MOLT_TRY(cpr_transfer_setup(addr, cpr_addr));
    } else if (cpr_addr) {
        return Error("a cpr channel is only for mode cpr-transfer");
    } else if (mode == api::MigMode::CprExec) {
        if (!p.cpr_exec_command || p.cpr_exec_command->empty()) {
            return Error("mode cpr-exec needs cpr-exec-command (the new process's argv)");
        }
        if (addr.transport != api::MigrationAddressType::File) {
            return Error("mode cpr-exec needs a file: URI (the new process reads the state from it)");
        }
        exec_state = std::make_shared<migration::CprState>(MOLT_TRY(gather_cpr_fds(m_vmm)));
    } else if (mode != api::MigMode::Normal && mode != api::MigMode::CprReboot) {
        return Error("migration mode " + std::string(api::to_string(mode)) + " is not supported yet by this molt");
    }
    // backend-transfer in mode normal: the TAP fds go in the main stream.
    bool taps = mode == api::MigMode::Normal && m_vmm.params.transfers(api::BackendTransfer::VirtioNetTap) &&
                m_vmm.machine->net_count() > 0;
    if (taps && !(addr.transport == api::MigrationAddressType::Socket &&
                  addr.u.socket->type == api::SocketAddressType::Unix)) {
        return Error("backend-transfer needs a UNIX socket main channel: the backends stay on this host");
    }
    if (mode == api::MigMode::CprReboot && m_vmm.params.transfers(api::BackendTransfer::VirtioNetTap) &&
        m_vmm.machine->net_count() > 0) {
        return Error("backend-transfer in mode cpr-reboot: nothing takes the TAPs over a reboot");
    }
    bool multifd = p.multifd.value_or(false) && !cpr;   // no RAM goes: no RAM channels
    if (multifd && !(addr.transport == api::MigrationAddressType::Socket &&
                     addr.u.socket->type != api::SocketAddressType::Fd)) {
        return Error("Migration requires multi-channel URIs (e.g. tcp)");
    }
    std::optional<migration::SharedRamId> shared;
    bool hands_over = cpr || exec_state;   // RAM goes as fds, not bytes
    if (p.x_ignore_shared.value_or(false) || hands_over) shared = MOLT_TRY(shared_ram());
    if (hands_over && !shared) return Error("guest RAM is not shared memory: CPR cannot hand it over");
    // cpr-transfer: the main channel is connected after the hand-over.
    migration::Channel channel = cpr ? migration::Channel{} : MOLT_TRY(migration::open_outgoing(addr, named_fds()));
    if (!shared) MOLT_TRY(m_vmm.machine->start_dirty_log());   // shared RAM is not sent
    m_start = Clock::now();
    m_error.reset();
    m_doubtful_channel.reset();
    m_total_ms.reset();
    m_downtime_ms.reset();
    m_pass = 0;
    m_stopped = false;
    m_stop_requested = false;
    m_stop_reply.reset();
    set_status(MigrationStatus::Setup);
    migration::OutgoingConfig config;
    config.max_bandwidth = p.max_bandwidth.value_or(0);
    config.downtime_limit_ms = p.downtime_limit.value_or(300);
    config.auto_converge = p.auto_converge.value_or(false);
    config.trigger_threshold = p.throttle_trigger_threshold.value_or(50);
    config.throttle_initial = p.cpu_throttle_initial.value_or(20);
    config.throttle_increment = p.cpu_throttle_increment.value_or(10);
    config.max_throttle = p.max_cpu_throttle.value_or(99);
    config.multifd_channels = multifd ? p.multifd_channels.value_or(2) : 0;
    config.ignore_shared = shared;
    m_final_shared = shared.has_value() || taps;   // the new process has them now
    m_send_taps = taps;
    config.cpr = std::move(cpr);
    // cpr-reboot is not live: the guest stops first, then one pass.
    config.stop_first = mode == api::MigMode::CprReboot;
    m_exec_state = std::move(exec_state);
    // The throttle is applied on the main thread (poll), which owns the machine.
    // multifd's channels connect from the migration thread: a unix or inet
    // address only (checked above), so no getfd name is taken there.
    auto connect = [addr]() -> Result<migration::Channel> {
        return migration::open_outgoing(addr, [](const std::string&) -> Result<UniqueFd> {
            return Error("multifd: no named descriptors");
        });
    };
    migration::Outgoing::Hooks hooks{[this] { return stop_and_save_from_thread(); },
                                     [this] { m_loop.wake(); }, nullptr, connect};
    m_out = std::make_unique<migration::Outgoing>(*m_vmm.machine, std::move(channel), config, hooks);
    set_status(MigrationStatus::Active);
    m_out->start();
    return ok();
}

Result<std::vector<migration::DeviceSection>> MigrationControl::stop_and_save_from_thread() {
    std::unique_lock guard(m_lock);
    m_stop_requested = true;
    m_loop.wake();
    m_cv.wait(guard, [this] { return m_stop_reply.has_value(); });
    return std::move(*m_stop_reply);
}

void MigrationControl::serve_stop_request() {
    std::lock_guard guard(m_lock);
    if (!m_stop_requested || m_stop_reply) return;
    m_stop = Clock::now();
    api::RunState before = m_vmm.run_state->state();
    m_was_running = m_vmm.run_state->finish_migrate();
    m_stopped = true;
    Result<void> step = fault::check("src-save-state");
    Result<api::MachineState> state = step ? m_vmm.machine->save_state() : Result<api::MachineState>(step.error());
    if (state) {
        migration::SavedVm vm{};
        vm.status.running = m_was_running;
        vm.status.status = before;
        vm.machine = std::move(*state);
        std::vector<migration::DeviceSection> sections = migration::encode_vm(vm);
        for (size_t i = 0; m_send_taps && i < m_vmm.machine->net_count(); ++i) {
            UniqueFd fd(fcntl(m_vmm.machine->net_fd(i), F_DUPFD_CLOEXEC, 3));
            if (!fd) {
                m_stop_reply = Error::from_errno(errno, "backend-transfer: dup");
                m_cv.notify_all();
                return;
            }
            sections.push_back(migration::tap_section(m_vmm.machine->net_id(i),
                                                      m_vmm.machine->net_ifname(i), std::move(fd)));
        }
        m_stop_reply = std::move(sections);
    } else {
        m_stop_reply = Error(state.error()).with_context("saving the device state");
    }
    m_cv.notify_all();
}

void MigrationControl::finish_outgoing() {
    m_final = m_out->stats();
    std::optional<Error> e = m_out->error();
    bool in_doubt = m_out->in_doubt();
    m_doubtful_channel = m_out->held_channel();   // until the next migration
    m_out.reset();
    (void)m_vmm.machine->stop_dirty_log();
    m_throttle = 0;
    m_vmm.machine->set_cpu_throttle(0);
    Clock::time_point now = Clock::now();
    m_total_ms = ms_between(m_start, now);
    if (e) {
        // In doubt, the guest stays paused: it may be running on the
        // destination (cont here is the operator's decision).
        if (m_stopped) m_vmm.run_state->migration_failed(m_was_running && !in_doubt);
        if (in_doubt) {
            e = Error(*e).with_context("the destination's verdict is unknown, the guest may run there: "
                                       "it stays paused here");
        }
        bool cancelled = m_status == MigrationStatus::Cancelling;
        m_error = e->message();
        set_status(cancelled ? MigrationStatus::Cancelled : MigrationStatus::Failed);
        return;
    }
    m_downtime_ms = ms_between(m_stop, now);
    if (m_exec_state) {
        // cpr-exec: the state is in the file; this process becomes the new
        // molt.  exec_new_process() returns only when the exec failed.
        Error failed = exec_new_process();
        m_exec_state.reset();
        m_error = failed.message();
        m_vmm.run_state->migration_failed(m_was_running);
        set_status(MigrationStatus::Failed);
        return;
    }
    m_vmm.run_state->postmigrate(m_final_shared);
    set_status(MigrationStatus::Completed);   // the figures above are already final
}

Error MigrationControl::exec_new_process() {
    const std::vector<std::string>& command = *m_vmm.params.get().cpr_exec_command;
    // Without it the exec itself would tear the old address space down,
    // inside the pause (exec_helper.h); with a failure, it only costs that.
    Result<ExecHelper> helper = ExecHelper::start();
    if (helper) m_exec_state->set_exec_helper(helper->pid());
    Result<UniqueFd> memfd = m_exec_state->to_memfd();
    if (!memfd) return Error(memfd.error()).with_context("cpr-exec");
    // Inheritable only now, just before the exec.
    Result<void> open = m_exec_state->set_cloexec(false);
    if (open && fcntl(memfd->get(), F_SETFD, 0) != 0) open = Error::from_errno(errno, "fcntl");
    if (!open) {
        (void)m_exec_state->set_cloexec(true);
        return Error(open.error()).with_context("cpr-exec");
    }
    setenv(migration::kCprExecEnv, std::to_string(memfd->get()).c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (m_vmm.events) m_vmm.events->flush_all(200);
    Result<void> step = fault::check("cpr-exec");
    if (step) execvp(argv[0], argv.data());
    int err = step ? errno : 0;
    unsetenv(migration::kCprExecEnv);
    (void)m_exec_state->set_cloexec(true);
    if (!step) return Error(step.error()).with_context("cpr-exec");
    return Error::from_errno(err, "cpr-exec: cannot execute '" + command[0] + "'");
}

void MigrationControl::cancel() {
    if (!m_out || m_out->finished()) return;
    set_status(MigrationStatus::Cancelling);
    m_out->cancel();
}

Result<void> MigrationControl::poll() {
    if (m_out) {
        serve_stop_request();
        migration::OutgoingStats s = m_out->stats();
        if (s.cpu_throttle != m_throttle) {
            m_throttle = s.cpu_throttle;
            m_vmm.machine->set_cpu_throttle(m_throttle);
        }
        uint64_t begun = s.pass + 1;   // pass n+1 begins when pass n ended
        while (m_pass < begun) {
            ++m_pass;
            if (m_vmm.params.get().events.value_or(false)) {
                api::emit_migration_pass(*m_vmm.events, static_cast<int64_t>(m_pass));
            }
        }
        if (m_out->finished()) finish_outgoing();
    }
    if (m_in && m_in->finished()) return finish_incoming();
    return ok();
}

Result<void> MigrationControl::incoming(const api::MigrationAddress& addr, bool exit_on_error) {
    if (m_in || m_listener.fd) return Error("The incoming migration has already been started");
    if (!m_vmm.machine) return Error("there is no machine to receive a migration into");
    // cpr-exec: the old program is gone; exiting would lose the guest.
    m_exit_on_error = exit_on_error && m_vmm.params.mode() != api::MigMode::CprExec;
    m_retry_allowed = false;
    m_listener = MOLT_TRY(migration::open_incoming(addr, named_fds()));
    m_start = Clock::now();
    if (!m_listener.listening) {
        m_in = std::make_unique<migration::Incoming>(m_vmm.machine->ram_for_incoming(),
                                                     std::move(m_listener.fd), -1, MOLT_TRY(shared_ram()),
                                                     [this] { m_loop.wake(); });
        set_status(MigrationStatus::Active);
        m_in->start();
        return ok();
    }
    set_status(MigrationStatus::Setup);
    return m_loop.add(m_listener.fd.get(), EPOLLIN, [this](uint32_t) { accept_incoming(); });
}

void MigrationControl::accept_incoming() {
    Result<UniqueFd> conn = accept_connection(m_listener.fd.get());
    if (!conn || !*conn) return;
    m_loop.remove(m_listener.fd.get());
    // The listener stays open until the migration ends: multifd's RAM
    // channels connect to it (the incoming thread accepts them).
    Result<std::optional<migration::SharedRamId>> shared = shared_ram();
    if (!shared) {
        std::fprintf(stderr, "molt: %s\n", shared.error().message().c_str());
        shared = std::optional<migration::SharedRamId>();
    }
    m_in = std::make_unique<migration::Incoming>(m_vmm.machine->ram_for_incoming(), std::move(*conn),
                                                 m_listener.fd.get(), *shared, [this] { m_loop.wake(); });
    set_status(MigrationStatus::Active);
    m_in->start();
}

Result<bool> MigrationControl::load_incoming() {
    if (std::optional<Error> e = m_in->error()) return *e;
    migration::SavedVm vm = MOLT_TRY(migration::decode_vm(m_in->take_sections()));
    MOLT_TRY(adopt_taps(m_in->take_taps()));
    MOLT_TRY(fault::check("dst-load-state"));
    MOLT_TRY(m_vmm.machine->load_state(vm.machine));
    return vm.status.running;
}

Result<void> MigrationControl::adopt_taps(std::vector<migration::ReceivedTap> taps) {
    hw::Machine& m = *m_vmm.machine;
    // Everything is checked before any TAP is taken.
    for (const migration::ReceivedTap& t : taps) {
        size_t i = 0;
        while (i < m.net_count() && m.net_id(i) != t.device_id) ++i;
        if (i == m.net_count() || !m.net_tap_pending(i)) {
            return Error("the source handed over the TAP of '" + t.device_id + "', which this process does not "
                         "wait for (start it with -incoming config:backend-transfer.0=virtio-net-tap)");
        }
        if (t.fds.size() != 1) return Error("'" + t.device_id + "': a multiqueue TAP is not supported");
    }
    for (size_t i = 0; i < m.net_count(); ++i) {
        if (!m.net_tap_pending(i)) continue;
        auto t = std::find_if(taps.begin(), taps.end(), [&](const auto& r) { return r.device_id == m.net_id(i); });
        if (t == taps.end()) {
            return Error("virtio-net device '" + m.net_id(i) + "': its TAP did not come with the migration "
                         "(backend-transfer is not set on the source)");
        }
    }
    for (migration::ReceivedTap& t : taps) {
        size_t i = 0;
        while (m.net_id(i) != t.device_id) ++i;
        MOLT_TRY(fault::check("dst-adopt-tap"));
        Result<hw::virtio::Tap> tap = hw::virtio::Tap::adopt(std::move(t.fds[0]));
        if (!tap) return Error(tap.error()).with_context("the TAP of '" + t.device_id + "'");
        m.net_adopt_tap(i, std::move(*tap));
    }
    return ok();
}

Result<void> MigrationControl::finish_incoming() {
    Result<bool> r = load_incoming();
    if (m_in->wants_verdict()) {
        Result<void> step = fault::check("dst-verdict");
        Result<void> sent = step ? m_in->send_verdict(r ? std::nullopt : std::optional(r.error().message())) : step;
        // The source resumes the guest unless it hears OK: never run it here then.
        if (r && !sent) r = sent.error();
    }
    m_total_ms = ms_between(m_start, Clock::now());
    m_in.reset();
    m_listener = {};
    if (!r) {
        m_error = r.error().message();
        set_status(MigrationStatus::Failed);
        if (m_exit_on_error) return Error("load of migration failed: " + *m_error);
        m_retry_allowed = m_vmm.params.mode() == api::MigMode::CprExec;
        return ok();
    }
    set_status(MigrationStatus::Completed);
    m_vmm.run_state->incoming_done(*r);
    // The guest's MACs now live here: tell the network (QEMU does this
    // whether or not the guest runs yet).
    const api::MigrationParameters& p = m_vmm.params.get();
    AnnounceRounds rounds{static_cast<uint64_t>(*p.announce_initial), static_cast<uint64_t>(*p.announce_max),
                          static_cast<uint64_t>(*p.announce_rounds), static_cast<uint64_t>(*p.announce_step), {}};
    Result<void> announced = m_vmm.announcer->start(std::nullopt, std::move(rounds));
    if (!announced) {
        std::fprintf(stderr, "molt: self-announcement: %s\n", announced.error().message().c_str());
    }
    return ok();
}

api::MigrationInfo MigrationControl::info() const {
    api::MigrationInfo info{};
    if (m_vmm.machine) {
        std::vector<std::string> blockers = m_vmm.machine->migration_blockers();
        if (!blockers.empty()) info.blocked_reasons = blockers;
    }
    if (!m_status) return info;   // no migration yet: {} as QEMU (or only the blockers)
    info.status = *m_status;
    if (m_error && (*m_status == MigrationStatus::Failed || *m_status == MigrationStatus::Cancelled)) {
        info.error_desc = *m_error;
    }
    if (!m_out && m_final.total == 0) {   // the incoming side: status and time only
        if (m_total_ms) info.total_time = *m_total_ms;
        return info;
    }
    migration::OutgoingStats s = m_out ? m_out->stats() : m_final;
    api::MigrationStats ram{};
    ram.transferred = static_cast<int64_t>(s.transferred);
    ram.remaining = static_cast<int64_t>(s.remaining);
    ram.total = static_cast<int64_t>(s.total);
    ram.duplicate = static_cast<int64_t>(s.duplicate);
    ram.normal = static_cast<int64_t>(s.normal);
    ram.normal_bytes = static_cast<int64_t>(s.normal * 4096);
    ram.dirty_pages_rate = static_cast<int64_t>(s.dirty_pages_rate);
    ram.mbps = s.mbps;
    ram.dirty_sync_count = static_cast<int64_t>(s.dirty_sync_count);
    ram.page_size = 4096;
    ram.pages_per_second = s.dirty_pages_rate;
    ram.precopy_bytes = s.precopy_bytes;
    ram.downtime_bytes = s.downtime_bytes;
    info.ram = ram;
    info.setup_time = static_cast<int64_t>(s.setup_ms);
    if (m_out) {
        info.total_time = ms_between(m_start, Clock::now());
        info.expected_downtime = static_cast<int64_t>(s.expected_downtime_ms);
        if (s.cpu_throttle > 0) info.cpu_throttle_percentage = s.cpu_throttle;
    } else {
        if (m_total_ms) info.total_time = *m_total_ms;
        if (m_downtime_ms) info.downtime = *m_downtime_ms;
    }
    return info;
}

}  // namespace molt::vmm
