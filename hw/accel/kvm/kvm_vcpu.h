// The kvm accelerator's vCPU (hw/accel/kvm): KVM_RUN with its exits sent
// to the buses.
//
// Boot state: 64-bit long mode with identity paging of the first 4 GiB
// (2 MiB pages; tables and a three-entry GDT written into guest RAM below
// the device tree), the guest's CPUID from KVM_GET_SUPPORTED_CPUID.
// No in-kernel irqchip yet: HLT exits to molt (KVM_EXIT_HLT) and halts
// the vCPU, as under tcg.  Pausing from another thread: a flag, kvm_run's
// immediate_exit, and SIGUSR1 to the vCPU thread to interrupt KVM_RUN
// (STYLE.md 7: signal + immediate_exit).
#pragma once

#include <pthread.h>

#include <atomic>
#include <memory>

#include "hw/accel/kvm/kvm.h"
#include "hw/accel/vcpu.h"
#include "hw/bus.h"
#include "hw/memory/guest_memory.h"

namespace molt::hw {

class KvmVcpu : public Vcpu {
public:
    // The VM must outlive the vCPU.
    static Result<std::unique_ptr<KvmVcpu>> create(const kvm::Kvm& kvm, const kvm::VmFd& vm,
                                                   const GuestMemory& ram, const Bus& pio,
                                                   const Bus& mmio);

    void on_thread_start() override;
    Result<Exit> run() override;
    void request_pause() override;
    void clear_pause() override;
    Result<void> set_boot_state(uint64_t entry, uint64_t fdt_address) override;
    Result<api::X86CpuState> save_state() const override;
    Result<void> load_state(const api::X86CpuState& state) override;

private:
    KvmVcpu(kvm::VcpuFd fd, const GuestMemory& ram, const Bus& pio, const Bus& mmio)
        : m_fd(std::move(fd)), m_ram(ram), m_pio(pio), m_mmio(mmio) {}
    Result<bool> handle_exit();   // false: halted
    void handle_io(kvm_run& run);
    void handle_mmio(kvm_run& run);

    kvm::VcpuFd m_fd;
    const GuestMemory& m_ram;
    const Bus& m_pio;
    const Bus& m_mmio;
    std::atomic<bool> m_pause{false};
    std::atomic<bool> m_thread_known{false};
    pthread_t m_thread{};
};

}  // namespace molt::hw
