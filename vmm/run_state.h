// The VM's run state (RunState) and its transitions, with QEMU's rules
// and events: stop/cont/system_reset/quit from QMP, SHUTDOWN on a signal.
//
// There are no vCPUs yet (the machine arrives with a later issue); the
// state machine is what query-status reports and what they will follow.
// Main thread only.
#pragma once

#include "qapi-types-run-state.h"
#include "runtime/events.h"
#include "runtime/result.h"

namespace molt::vmm {

class RunStateMachine {
public:
    RunStateMachine(EventSink& events, api::RunState initial, bool autostart);

    api::RunState state() const { return m_state; }
    bool running() const { return m_state == api::RunState::Running; }

    // QMP stop: running -> paused (STOP); during an incoming migration,
    // only cancels the automatic start; otherwise nothing.
    void stop();
    // QMP cont: -> running (RESUME); during an incoming migration, starts
    // the guest once it has arrived.
    Result<void> cont();
    // QMP system_reset / a guest reset: RESET.
    void reset(api::ShutdownCause cause);
    // quit or a signal: SHUTDOWN; the caller then exits.
    void shutdown(api::ShutdownCause cause);

private:
    void set(api::RunState next) { m_state = next; }

    EventSink& m_events;
    api::RunState m_state;
    bool m_autostart;
};

}  // namespace molt::vmm
