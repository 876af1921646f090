// Serial16550's device state (schema SerialState), saved and loaded for
// migration and snapshots (STYLE.md 6); see serial.h.
#include <string>

#include "hw/serial/serial.h"

namespace molt::hw {

api::SerialState Serial16550::save() const {
    std::lock_guard guard(m_lock);
    api::SerialState s;
    s.ier = m_ier;
    s.lcr = m_lcr;
    s.mcr = m_mcr;
    s.scr = m_scr;
    s.fcr = m_fcr;
    s.dll = m_dll;
    s.dlm = m_dlm;
    s.overrun = m_overrun;
    s.thr_interrupt = m_thr_interrupt;
    s.rx.assign(m_rx.begin(), m_rx.end());
    return s;
}

Result<void> Serial16550::check_state(const api::SerialState& s) {
    // A write keeps only these bits, so no guest can set the others.
    if (s.ier & ~kIerBits) return Error("serial: ier " + std::to_string(s.ier) + " has bits above 3");
    if (s.mcr & ~kMcrBits) return Error("serial: mcr " + std::to_string(s.mcr) + " has bits above 4");
    if (s.rx.size() > kRxQueueLimit) {
        return Error("serial: " + std::to_string(s.rx.size()) + " received bytes, more than the queue's " +
                     std::to_string(kRxQueueLimit));
    }
    return ok();
}

Result<void> Serial16550::load(const api::SerialState& s) {
    MOLT_TRY(check_state(s));
    std::lock_guard guard(m_lock);
    m_ier = s.ier;
    m_lcr = s.lcr;
    m_mcr = s.mcr;
    m_scr = s.scr;
    m_fcr = s.fcr;
    m_dll = s.dll;
    m_dlm = s.dlm;
    m_overrun = s.overrun;
    m_thr_interrupt = s.thr_interrupt;
    m_rx.assign(s.rx.begin(), s.rx.end());
    update_irq();
    return ok();
}

}  // namespace molt::hw
