// Migration in the VMM (vmm/): the QMP commands' side of the engine
// (migration/engine), on the main thread.
//
// Outgoing (migrate): checks, opens the channel, turns dirty tracking on
// and starts the migration thread; serves its one request - stop the
// guest and save the device state at the switch-over - and, when it ends,
// publishes the final figures before the status becomes completed (the
// guest is then in postmigrate), or resumes the guest (failed,
// cancelled).  Incoming (-incoming URI, migrate-incoming): listens or
// opens, receives on a thread, then loads the device state and starts the
// guest (or leaves it paused with -S); a failure exits molt
// (exit-on-error, the default) or is reported as failed with the guest
// never started.  Status changes emit MIGRATION (and passes
// MIGRATION_PASS) when the events capability is on.  Main thread only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "migration/engine/channel.h"
#include "migration/engine/incoming.h"
#include "migration/engine/outgoing.h"
#include "migration/engine/shared_ram.h"
#include "qapi-types-migration.h"
#include "runtime/event_loop.h"

namespace molt::vmm {

struct Vmm;

class MigrationControl {
public:
    MigrationControl(Vmm& vmm, EventLoop& loop) : m_vmm(vmm), m_loop(loop) {}
    ~MigrationControl();

    // cpr: the cpr channel (mode cpr-transfer only).
    Result<void> migrate(const api::MigrationAddress& addr, const std::optional<api::MigrationAddress>& cpr);
    Result<void> incoming(const api::MigrationAddress& addr, bool exit_on_error);
    // cpr-exec's new program whose load failed: it is the only process
    // with the guest, so it stays and migrate-incoming may try again.
    bool incoming_retry_allowed() const { return m_retry_allowed; }
    void cancel();
    api::MigrationInfo info() const;
    // After every main-loop wake-up.  An Error: molt must exit with it
    // (an incoming migration failed with exit-on-error).
    Result<void> poll();

private:
    using Clock = std::chrono::steady_clock;

    void set_status(api::MigrationStatus status);
    bool active() const;
    Result<std::vector<migration::DeviceSection>> stop_and_save_from_thread();
    void serve_stop_request();
    void finish_outgoing();
    // cpr-exec: becomes the new molt (cpr-exec-command); the Error when
    // the exec failed (everything is as it was, but the guest is stopped).
    Error exec_new_process();
    void accept_incoming();
    Result<void> finish_incoming();
    // Whether the guest ran on the source when it stopped.
    Result<bool> load_incoming();
    // backend-transfer in mode normal: each pending TAP takes the fd that
    // came with the stream; every mismatch is an Error before any is taken.
    Result<void> adopt_taps(std::vector<migration::ReceivedTap> taps);
    migration::TakeNamedFd named_fds();
    // cpr-transfer's requirements (channels, shared RAM) and its CPR state.
    Result<migration::OutgoingConfig::Cpr> cpr_transfer_setup(
        const api::MigrationAddress& addr, const std::optional<api::MigrationAddress>& cpr) const;
    // Guest RAM's identity when it is shared memory (x-ignore-shared).
    Result<std::optional<migration::SharedRamId>> shared_ram() const;

    Vmm& m_vmm;
    EventLoop& m_loop;
    std::optional<api::MigrationStatus> m_status;
    std::optional<std::string> m_error;
    std::unique_ptr<migration::Outgoing> m_out;
    std::unique_ptr<migration::Incoming> m_in;
    migration::Channel m_listener;
    bool m_exit_on_error = true;
    bool m_retry_allowed = false;
    UniqueFd m_doubtful_channel;   // a verdict in doubt: its channel stays open
    uint64_t m_pass = 0;
    int m_throttle = 0;   // auto-converge's percentage, as applied
    bool m_was_running = false;
    bool m_stopped = false;
    bool m_final_shared = false;   // the destination maps this process's RAM (or has its TAPs)
    bool m_send_taps = false;      // backend-transfer in mode normal: TAP sections
    // cpr-exec: what the new process inherits, from migrate() to the exec.
    std::shared_ptr<migration::CprState> m_exec_state;
    Clock::time_point m_start, m_stop;
    std::optional<int64_t> m_total_ms, m_downtime_ms;
    migration::OutgoingStats m_final;

    // The migration thread's stop-and-save request and its answer.
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_stop_requested = false;
    std::optional<Result<std::vector<migration::DeviceSection>>> m_stop_reply;
};

}  // namespace molt::vmm
