// The kvm accelerator's vCPU (hw/accel/kvm): KVM_RUN with its exits sent
// to the buses.
//
// Boot state: 64-bit long mode with identity paging of the first 4 GiB
// (2 MiB pages; tables and a flat GDT written into guest RAM below the
// device tree), the guest's CPUID from KVM_GET_SUPPORTED_CPUID.  With the
// in-kernel irqchip (the Machine creates it before the vCPU) HLT waits in
// the kernel for an interrupt; without it, HLT exits to molt and halts
// the vCPU, as under tcg.  Pausing from another thread: a flag, kvm_run's
// immediate_exit, and SIGUSR1 to the vCPU thread to interrupt KVM_RUN
// (STYLE.md 7: signal + immediate_exit); an I/O or MMIO exit is completed
// by KVM before run() returns Paused, so the paused state is consistent
// (it can be saved and loaded elsewhere).
#pragma once

#include <pthread.h>

#include <atomic>
#include <memory>
#include <optional>

#include "hw/accel/kvm/kvm.h"
#include "hw/accel/vcpu.h"
#include "hw/bus.h"
#include "hw/memory/guest_memory.h"

namespace molt::hw {

class KvmVcpu : public Vcpu {
public:
    const char* thread_name() const override { return "CPU 0/KVM"; }
    // The VM must outlive the vCPU.
    static Result<std::unique_ptr<KvmVcpu>> create(const kvm::Kvm& kvm, const kvm::VmFd& vm,
                                                   const GuestMemory& ram, const Bus& pio,
                                                   const Bus& mmio);

    void on_thread_start() override;
    Result<Exit> run() override;
    void request_pause() override;
    void clear_pause() override;
    Result<void> set_boot_state(uint64_t entry, uint64_t fdt_address) override;
    // Linux's 64-bit boot protocol: RSI = boot_params, CS/DS = 0x10/0x18.
    Result<void> set_linux_boot_state(uint64_t entry, uint64_t boot_params);
    Result<api::X86CpuState> save_state() const override;
    Result<void> load_state(const api::X86CpuState& state) override;
    // The vCPU fd, for the state beyond the registers (kvm_platform_state.h).
    int vcpu_fd() const { return m_fd.fd(); }

private:
    KvmVcpu(kvm::VcpuFd fd, const GuestMemory& ram, const Bus& pio, const Bus& mmio)
        : m_fd(std::move(fd)), m_ram(ram), m_pio(pio), m_mmio(mmio) {}
    Result<void> enter_long_mode(const kvm_regs& regs, uint16_t code_selector, uint16_t data_selector);
    // nullopt: go on running.
    Result<std::optional<Exit>> handle_exit();
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
