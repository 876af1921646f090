// What the vCPU thread (hw/vcpu_thread) needs of an accelerator's vCPU:
// run guest code until it halts or is asked to pause.  Implemented by the
// tcg vCPU (Unicorn) and the kvm vCPU (KVM_RUN).
#pragma once

#include "hw/memory/dirty_bitmap.h"
#include "qapi-types-machine.h"
#include "runtime/result.h"

namespace molt::hw {

class Vcpu {
public:
    // Reset: the guest asked for a reset (kvm: a triple fault, which on a
    // PC resets the machine).
    enum class Exit { Halted, Paused, Reset };

    virtual ~Vcpu() = default;
    // The vCPU thread's name as tools show it (QEMU's: "CPU 0/KVM").
    virtual const char* thread_name() const = 0;
    // Called once on the vCPU thread before the first run().
    virtual void on_thread_start() {}
    // Runs guest code until HLT (with nothing to wake it) or a pause
    // request; a guest fault is an Error naming the address.  vCPU thread.
    virtual Result<Exit> run() = 0;
    // Makes a running or the next run() return Paused; any thread.
    virtual void request_pause() = 0;
    virtual void clear_pause() = 0;
    // The register state at power-on, entering the guest at `entry` in
    // 64-bit mode with RDI = fdt_address.  Not while running.
    virtual Result<void> set_boot_state(uint64_t entry, uint64_t fdt_address) = 0;
    // The host wrote guest code in [begin, end) (only tcg caches it).
    virtual void invalidate(uint64_t, uint64_t) {}
    // The architectural state (schema type X86CpuState), read or written
    // while the vCPU is paused; any thread of this process.
    virtual Result<api::X86CpuState> save_state() const = 0;
    virtual Result<void> load_state(const api::X86CpuState& state) = 0;
    // Guest writes mark `bitmap` while it is set (null: off); for
    // accelerators whose dirty log is not kept by the VM itself (tcg).
    // While paused.
    virtual Result<void> set_dirty_bitmap(DirtyBitmap*) { return ok(); }
};

}  // namespace molt::hw
