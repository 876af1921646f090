// Interrupt lines into KVM's in-kernel irqchip (hw/accel/kvm): a device's
// IrqLine drives one GSI with KVM_IRQ_LINE.  Only level changes reach the
// kernel.  The VM a line talks to can be replaced (system_reset creates a
// fresh VM for a true power-on state), so lines follow a pointer the
// Machine updates while no device can raise them; null drops changes.
#pragma once

#include <atomic>

#include "hw/accel/kvm/kvm.h"
#include "hw/irq.h"
#include "runtime/result.h"

namespace molt::hw::kvm {

class KvmIrqLine final : public IrqLine {
public:
    KvmIrqLine(const std::atomic<const VmFd*>& vm, uint32_t gsi) : m_vm(vm), m_gsi(gsi) {}

    void set_level(bool high) override {
        if (m_level.exchange(high) == high) return;
        const VmFd* vm = m_vm.load(std::memory_order_acquire);
        // The GSIs are the machine's own (< 24, checked when wired), so
        // KVM_IRQ_LINE cannot refuse them.
        if (vm) MOLT_ASSERT(vm->set_irq_line(m_gsi, high));
    }
    // A fresh VM's lines are low.
    void forget_level() { m_level.store(false); }

private:
    const std::atomic<const VmFd*>& m_vm;
    uint32_t m_gsi;
    std::atomic<bool> m_level{false};
};

}  // namespace molt::hw::kvm
