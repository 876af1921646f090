// Serial16550; see serial.h.
#include "hw/serial/serial.h"

#include <unistd.h>

#include <cerrno>

namespace molt::hw {

namespace {

enum Reg : uint64_t { kData = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThrEmpty = 0x20,
                  kLsrIdle = 0x40;
constexpr uint8_t kIirNoInterrupt = 0x01, kIirThrEmpty = 0x02, kIirRxData = 0x04,
                  kIirLineStatus = 0x06, kIirFifoOn = 0xc0;
constexpr uint8_t kIerRxData = 0x01, kIerThrEmpty = 0x02, kIerLineStatus = 0x04;

}  // namespace

void Serial16550::read(uint64_t offset, std::span<uint8_t> data) {
    std::lock_guard guard(m_lock);
    for (size_t i = 0; i < data.size(); ++i) data[i] = read_register(offset + i);
    update_irq();
}

void Serial16550::write(uint64_t offset, std::span<const uint8_t> data) {
    std::lock_guard guard(m_lock);
    for (size_t i = 0; i < data.size(); ++i) write_register(offset + i, data[i]);
    update_irq();
}

uint8_t Serial16550::pending_interrupt() const {
    if ((m_ier & kIerLineStatus) && m_overrun) return kIirLineStatus;
    if ((m_ier & kIerRxData) && !m_rx.empty()) return kIirRxData;
    if ((m_ier & kIerThrEmpty) && m_thr_interrupt) return kIirThrEmpty;
    return kIirNoInterrupt;
}

void Serial16550::update_irq() {
    if (m_irq) m_irq->set_level(pending_interrupt() != kIirNoInterrupt);
}

uint8_t Serial16550::read_register(uint64_t offset) {
    bool dlab = m_lcr & kLcrDlab;
    switch (offset) {
    case kData:
        if (dlab) return m_dll;
        if (m_rx.empty()) return 0;
        {
            uint8_t b = m_rx.front();
            m_rx.pop_front();
            return b;
        }
    case kIer: return dlab ? m_dlm : m_ier;
    case kIirFcr: {
        uint8_t id = pending_interrupt();
        // Reading IIR acknowledges a "THR empty" interrupt it reports.
        if (id == kIirThrEmpty) m_thr_interrupt = false;
        return static_cast<uint8_t>(id | ((m_fcr & 1) ? kIirFifoOn : 0));
    }
    case kLcr: return m_lcr;
    case kMcr: return m_mcr;
    case kLsr: {
        uint8_t lsr = kLsrThrEmpty | kLsrIdle;
        if (!m_rx.empty()) lsr |= kLsrDataReady;
        if (m_overrun) lsr |= kLsrOverrun;
        m_overrun = false;
        return lsr;
    }
    case kMsr:
        // Loopback reflects MCR's outputs; otherwise CTS, DSR and DCD are up.
        return (m_mcr & kMcrLoop) ? static_cast<uint8_t>((m_mcr & 0x0c) << 4 | (m_mcr & 0x03) << 4)
                                  : 0xb0;
    case kScr: return m_scr;
    default: return 0xff;
    }
}

void Serial16550::write_register(uint64_t offset, uint8_t value) {
    bool dlab = m_lcr & kLcrDlab;
    switch (offset) {
    case kData:
        if (dlab) {
            m_dll = value;
        } else if (m_mcr & kMcrLoop) {
            if (m_rx.size() < kRxQueueLimit) m_rx.push_back(value); else m_overrun = true;
        } else {
            transmit(value);
        }
        m_thr_interrupt = true;   // sent at once: THR is empty again
        break;
    case kIer:
        if (dlab) {
            m_dlm = value;
        } else {
            // Enabling the THR-empty interrupt while THR is empty raises it.
            if ((value & kIerThrEmpty) && !(m_ier & kIerThrEmpty)) m_thr_interrupt = true;
            m_ier = value & kIerBits;
        }
        break;
    case kIirFcr:
        m_fcr = value;
        if (value & 0x02) m_rx.clear();   // clear the receive FIFO
        break;
    case kLcr: m_lcr = value; break;
    case kMcr: m_mcr = value & kMcrBits; break;
    case kScr: m_scr = value; break;
    default: break;   // LSR and MSR are read-only
    }
}

void Serial16550::transmit(uint8_t byte) {
    if (!m_out) return;
    // A console that cannot keep up loses bytes rather than stalling the vCPU.
    while (::write(m_out.get(), &byte, 1) < 0 && errno == EINTR) {
    }
}

void Serial16550::receive(std::span<const uint8_t> bytes) {
    std::lock_guard guard(m_lock);
    for (uint8_t b : bytes) {
        if (m_rx.size() >= kRxQueueLimit) {
            m_overrun = true;
            break;
        }
        m_rx.push_back(b);
    }
    update_irq();
}

void Serial16550::set_output(UniqueFd out) {
    std::unique_lock guard(m_lock);
    std::swap(m_out, out);
    guard.unlock();   // the old fd closes here, outside the lock
}

void Serial16550::reset() {
    std::lock_guard guard(m_lock);
    m_rx.clear();
    m_ier = m_lcr = m_mcr = m_scr = m_fcr = 0;
    m_dll = 0x0c;
    m_dlm = 0;
    m_overrun = false;
    m_thr_interrupt = false;
    update_irq();
}

}  // namespace molt::hw
