// The VM's run state (RunState) and its transitions, with QEMU's rules
// and events: stop/cont/system_reset/quit from QMP, SHUTDOWN on a signal.
//
// Transitions pause and resume the machine's vCPUs (VcpuControl) before
// the event goes out.  Main thread only.
#pragma once

#include "qapi-types-run-state.h"
#include "runtime/events.h"
#include "runtime/result.h"

namespace molt::vmm {

// What the run state drives: the machine's vCPUs (absent until a machine
// exists).  Implemented over hw::Machine in vmm/.
class VcpuControl {
public:
    virtual ~VcpuControl() = default;
    virtual void pause() = 0;
    virtual void resume() = 0;
    virtual Result<void> reset() = 0;
};

class RunStateMachine {
public:
    RunStateMachine(EventSink& events, api::RunState initial, bool autostart);

    void set_vcpus(VcpuControl* vcpus) { m_vcpus = vcpus; }
    api::RunState state() const { return m_state; }
    bool running() const { return m_state == api::RunState::Running; }

    // QMP stop: running -> paused (STOP); during an incoming migration,
    // only cancels the automatic start; otherwise nothing.
    void stop();
    // QMP cont: -> running (RESUME); during an incoming migration, starts
    // the guest once it has arrived.
    Result<void> cont();
    // QMP system_reset / a guest reset: RESET.
    Result<void> reset(api::ShutdownCause cause);
    // quit or a signal: SHUTDOWN; the caller then exits.
    void shutdown(api::ShutdownCause cause);
    // A vCPU hit an error it cannot go on from: internal-error (STOP).
    void internal_error();

    // Outgoing migration: the switch-over stops the guest (finish-migrate,
    // STOP if it was running); returns whether it was running.
    bool finish_migrate();
    // The migration completed: postmigrate (the guest lives elsewhere now).
    // memory_shared: the new process runs on this process's very memory
    // (x-ignore-shared, cpr-transfer): cont may not run the guest here again.
    void postmigrate(bool memory_shared);
    // The migration failed or was cancelled after finish_migrate(): back
    // to running (RESUME) if it was, else paused.
    void migration_failed(bool was_running);
    // Incoming migration: the guest has arrived; it runs (RESUME) if it
    // ran on the source and neither -S nor stop asked otherwise, else it
    // waits paused (as QEMU's global state does).
    void incoming_done(bool source_running);

private:
    void set(api::RunState next) { m_state = next; }

    EventSink& m_events;
    VcpuControl* m_vcpus = nullptr;
    api::RunState m_state;
    bool m_autostart;
    bool m_memory_given_away = false;
};

}  // namespace molt::vmm
