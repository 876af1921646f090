// RunStateMachine; see run_state.h.
#include "vmm/run_state.h"

#include "qapi-events-run-state.h"

namespace molt::vmm {

using api::RunState;

RunStateMachine::RunStateMachine(EventSink& events, RunState initial, bool autostart)
    : m_events(events), m_state(initial), m_autostart(autostart) {}

void RunStateMachine::stop() {
    if (m_state == RunState::Inmigrate) {
        m_autostart = false;
        return;
    }
    if (m_state != RunState::Running) return;
    if (m_vcpus) m_vcpus->pause();
    set(RunState::Paused);
    api::emit_stop(m_events);
}

Result<void> RunStateMachine::cont() {
    switch (m_state) {
    case RunState::InternalError:
    case RunState::Shutdown:
    case RunState::GuestPanicked:
        return Error("Resetting the Virtual Machine is required");
    case RunState::FinishMigrate:
        return Error("Migration is not finalized yet");
    case RunState::Postmigrate:
        if (m_memory_given_away) {
            return Error("The guest runs on in the process it migrated to, on this same memory: "
                         "it cannot run here too");
        }
        break;
    case RunState::Inmigrate:
        m_autostart = true;
        return ok();
    case RunState::Running:
    case RunState::Suspended:
        return ok();
    default:
        break;
    }
    if (m_vcpus) m_vcpus->resume();
    set(RunState::Running);
    api::emit_resume(m_events);
    return ok();
}

Result<void> RunStateMachine::reset(api::ShutdownCause cause) {
    if (m_vcpus) {
        MOLT_TRY(m_vcpus->reset());
        if (m_state == RunState::Running) m_vcpus->resume();
    }
    bool guest = cause == api::ShutdownCause::GuestReset;
    api::emit_reset(m_events, guest, cause);
    if (m_state == RunState::InternalError || m_state == RunState::Shutdown ||
        m_state == RunState::GuestPanicked) {
        set(RunState::Prelaunch);
    }
    return ok();
}

void RunStateMachine::internal_error() {
    if (m_vcpus) m_vcpus->pause();
    bool was_running = m_state == RunState::Running;
    set(RunState::InternalError);
    if (was_running) api::emit_stop(m_events);
}

bool RunStateMachine::finish_migrate() {
    bool was_running = m_state == RunState::Running;
    if (m_vcpus) m_vcpus->pause();
    set(RunState::FinishMigrate);
    if (was_running) api::emit_stop(m_events);
    return was_running;
}

void RunStateMachine::postmigrate(bool memory_shared) {
    m_memory_given_away = memory_shared;
    set(RunState::Postmigrate);
}

void RunStateMachine::migration_failed(bool was_running) {
    if (!was_running) {
        set(RunState::Paused);
        return;
    }
    if (m_vcpus) m_vcpus->resume();
    set(RunState::Running);
    api::emit_resume(m_events);
}

void RunStateMachine::incoming_done(bool source_running) {
    if (!m_autostart || !source_running) {
        set(RunState::Paused);
        return;
    }
    if (m_vcpus) m_vcpus->resume();
    set(RunState::Running);
    api::emit_resume(m_events);
}

void RunStateMachine::shutdown(api::ShutdownCause cause) {
    using C = api::ShutdownCause;
    bool guest = cause == C::GuestShutdown || cause == C::GuestReset || cause == C::GuestPanic;
    api::emit_shutdown(m_events, guest, cause);
}

}  // namespace molt::vmm
