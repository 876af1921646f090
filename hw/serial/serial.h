// A 16550A UART (hw/serial): the guest's console at COM1 (0x3f8).
//
// Registers per the National Semiconductor PC16550D data sheet: RBR/THR,
// IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, and the divisor latch (DLL/DLM)
// behind LCR.DLAB.  Transmitted bytes go to the backend fd (stdout, a
// file, or the non-blocking pipe of a socket backend, swapped in by
// set_output()); a byte the fd does not take is dropped.  Received bytes
// are queued by receive() (main thread) and read by the guest through
// RBR.  Loopback (MCR bit 4) feeds THR back to RBR.  Interrupts (IER/IIR)
// as the data sheet ranks them: line status, received data, transmitter
// empty; the IRQ line (ISA IRQ 4) is high while one is pending, as QEMU's
// model (MCR.OUT2 does not gate it).  A byte is sent the moment THR is
// written, so THR is always empty again at once.  Register accesses come
// from the vCPU thread; receive() and set_output() from the main loop; a
// mutex orders them.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "hw/bus.h"
#include "hw/irq.h"
#include "qapi-types-machine-state.h"
#include "runtime/unique_fd.h"

namespace molt::hw {

class Serial16550 : public BusDevice {
public:
    static constexpr uint64_t kCom1Base = 0x3f8;
    static constexpr uint64_t kRegisterCount = 8;
    static constexpr size_t kRxQueueLimit = 4096;
    static constexpr uint32_t kCom1Irq = 4;

    // out: where transmitted bytes go (empty: dropped, as -serial null).
    explicit Serial16550(UniqueFd out) : m_out(std::move(out)) {}

    // The interrupt line (before the vCPU runs; default: none).
    void set_irq(IrqLine* irq) { m_irq = irq; }

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // Bytes from the host side (keyboard, socket); beyond the queue limit
    // they are dropped, as a real UART overruns.
    void receive(std::span<const uint8_t> bytes);
    // Replaces the backend fd (empty: output dropped); the old one is
    // closed once no transmit uses it.  Any thread.
    void set_output(UniqueFd out);
    // Power-on state (system_reset).
    void reset();

    // Device state (STYLE.md 6; serial_state.cpp): the registers and the
    // receive queue.  check_state() refuses what this model cannot be in,
    // naming the field; load() checks, then replaces the whole state and
    // drives the IRQ line to match it; on an Error nothing changed.  Main
    // thread, with the vCPU paused.
    api::SerialState save() const;
    static Result<void> check_state(const api::SerialState& state);
    Result<void> load(const api::SerialState& state);

private:
    // The bits IER and MCR keep of a write.
    static constexpr uint8_t kIerBits = 0x0f, kMcrBits = 0x1f;

    uint8_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint8_t value);
    void transmit(uint8_t byte);
    // The highest-priority pending interrupt's IIR code (1: none), and
    // the line driven to match.
    uint8_t pending_interrupt() const;
    void update_irq();

    mutable std::mutex m_lock;
    UniqueFd m_out;
    std::deque<uint8_t> m_rx;
    uint8_t m_ier = 0, m_lcr = 0, m_mcr = 0, m_scr = 0, m_fcr = 0;
    uint8_t m_dll = 0x0c, m_dlm = 0;   // 9600 baud after reset
    bool m_overrun = false;
    bool m_thr_interrupt = false;   // "THR empty" not yet acknowledged
    IrqLine* m_irq = nullptr;
};

}  // namespace molt::hw
