// The tcg accelerator: one vCPU on Unicorn 2 (hw/accel/tcg).
//
// Guest RAM is the memory backend's mapping, given to Unicorn with
// uc_mem_map_ptr (no copy), one mapping per RAM region (low RAM at 0,
// high RAM at 4 GiB).  IN/OUT instructions go to the port-I/O bus
// through UC_HOOK_INSN hooks.  The guest starts in 64-bit mode (Unicorn's
// UC_MODE_64 starts with long mode on and paging off; Debian's Unicorn
// 2.0.1 maps VA == PA anyway, so guests are identity-mapped).  Pausing is
// safe only at a block boundary (../shared/reference/accel.md B.5): another
// thread sets a flag, a UC_HOOK_BLOCK hook calls uc_emu_stop.  Host writes
// to guest code must be followed by invalidate().  One vCPU, one thread:
// run() is called on the vCPU thread only; request_pause() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/accel/tcg/tcg_engine.h"
#include "hw/accel/vcpu.h"
#include "hw/bus.h"
#include "hw/memory/guest_memory.h"
#include "runtime/result.h"

struct uc_struct;

namespace molt::hw {

class TcgVcpu : public Vcpu {
public:
    const char* thread_name() const override { return "CPU 0/TCG"; }

    struct Window {
        uint64_t base, length;
    };
    // windows: the MMIO ranges (outside RAM) routed to the MMIO bus.  RAM
    // and the buses must outlive the vCPU.
    // `engine`: one made ready beforehand (TcgEngine::warm), else a new one.
    static Result<std::unique_ptr<TcgVcpu>> create(const GuestMemory& ram, const Bus& pio,
                                                   const Bus& mmio,
                                                   const std::vector<Window>& windows,
                                                   std::optional<TcgEngine> engine = std::nullopt);
    ~TcgVcpu() override;
    TcgVcpu(const TcgVcpu&) = delete;
    TcgVcpu& operator=(const TcgVcpu&) = delete;

    // The boot state: 64-bit mode, RIP = entry, RDI = the device tree's
    // address, RSP = 0, RFLAGS = 2.
    Result<void> set_boot_state(uint64_t entry, uint64_t fdt_address) override;
    uint64_t rip() const;
    // Unicorn exposes no hidden segment parts: save_state() reports the
    // flat 64-bit segments it runs with; load_state() writes selectors,
    // bases, control registers, EFER and the GPRs, RIP last.
    Result<api::X86CpuState> save_state() const override;
    Result<void> load_state(const api::X86CpuState& state) override;
    // A UC_HOOK_MEM_WRITE over RAM marks the bitmap by host offset
    // (accel.md B.4: exact, +5-15% per store).
    Result<void> set_dirty_bitmap(DirtyBitmap* bitmap) override;

    // Runs guest code until HLT or a pause request.  A guest fault (an
    // invalid instruction, an access outside RAM and devices) is an Error
    // naming the address.
    Result<Exit> run() override;
    void request_pause() override { m_pause.store(true, std::memory_order_release); }
    void clear_pause() override { m_pause.store(false, std::memory_order_release); }
    // Translated code for [begin, end) is stale (the host wrote there).
    void invalidate(uint64_t begin, uint64_t end) override;

private:
    TcgVcpu(uc_struct* uc, const GuestMemory& ram, const Bus& pio, const Bus& mmio)
        : m_uc(uc), m_ram(ram), m_pio(pio), m_mmio(mmio) {}
    // Drops the translated code of all guest RAM (uc_ctl_remove_cache).
    Result<void> drop_ram_code();
    static uint64_t on_mmio_read(uc_struct* uc, uint64_t offset, unsigned size, void* self);
    static void on_mmio_write(uc_struct* uc, uint64_t offset, unsigned size, uint64_t value,
                              void* self);
    Result<void> add_hooks();
    static void on_block(uc_struct* uc, uint64_t address, uint32_t size, void* self);
    static uint32_t on_in(uc_struct* uc, uint32_t port, int size, void* self);
    static void on_out(uc_struct* uc, uint32_t port, int size, uint32_t value, void* self);
    static bool on_write(uc_struct* uc, int type, uint64_t address, int size, int64_t value,
                         void* self);

    uc_struct* m_uc;
    const GuestMemory& m_ram;
    const Bus& m_pio;
    const Bus& m_mmio;
    struct MappedWindow {
        TcgVcpu* self;
        uint64_t base;
    };
    std::vector<std::unique_ptr<MappedWindow>> m_windows;   // stable addresses for Unicorn
    std::atomic<bool> m_pause{false};
    bool m_stopped_by_us = false;   // vCPU thread only
    std::atomic<bool> m_ran{false};  // guest code ran (so code may be translated)
    DirtyBitmap* m_dirty = nullptr;
    size_t m_write_hook = 0;        // uc_hook, 0: none
};

}  // namespace molt::hw
