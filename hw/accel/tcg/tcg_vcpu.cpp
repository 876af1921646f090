// TcgVcpu; see tcg_vcpu.h.
#include "hw/accel/tcg/tcg_vcpu.h"

#include <unicorn/unicorn.h>

#include <cstdio>
#include <cstring>

namespace molt::hw {

namespace {

Error uc_error(uc_err err, const std::string& what) {
    return Error(what + ": " + uc_strerror(err));
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

Result<std::unique_ptr<TcgVcpu>> TcgVcpu::create(const GuestMemory& ram, const Bus& pio,
                                                 const Bus& mmio,
                                                 const std::vector<Window>& windows,
                                                 std::optional<TcgEngine> engine) {
    uc_engine* uc = nullptr;
    uc_err err = UC_ERR_OK;
    if (engine) {
        uc = engine->release();
    } else {
        err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
        if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot start the Unicorn engine");
    }
    std::unique_ptr<TcgVcpu> cpu(new TcgVcpu(uc, ram, pio, mmio));
    for (const GuestMemory::Region& r : ram.regions()) {
        std::span<uint8_t> host = ram.host_span(r);
        if (host.size() % 4096 != 0) return Error("tcg: guest RAM size must be a multiple of 4 KiB");
        err = uc_mem_map_ptr(uc, r.gpa, host.size(), UC_PROT_ALL, host.data());
        if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot map guest RAM at " + hex(r.gpa));
    }
    MOLT_TRY(cpu->add_hooks());
    for (const Window& w : windows) {
        // Unicorn passes offsets within the window; its user data says which.
        cpu->m_windows.push_back(std::make_unique<MappedWindow>(MappedWindow{cpu.get(), w.base}));
        void* ud = cpu->m_windows.back().get();
        err = uc_mmio_map(uc, w.base, w.length, on_mmio_read, ud, on_mmio_write, ud);
        if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot map an MMIO window");
    }
    return cpu;
}

TcgVcpu::~TcgVcpu() {
    if (m_uc) uc_close(m_uc);
}

Result<void> TcgVcpu::add_hooks() {
    uc_hook h;
    // SAFETY: Unicorn calls these with the argument types of its typedefs;
    // uc_hook_add takes them through a variadic void*.
    uc_err err = uc_hook_add(m_uc, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(&on_block), this, 1, 0);
    if (err == UC_ERR_OK) {
        err = uc_hook_add(m_uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&on_in), this, 1, 0,
                          UC_X86_INS_IN);
    }
    if (err == UC_ERR_OK) {
        err = uc_hook_add(m_uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&on_out), this, 1, 0,
                          UC_X86_INS_OUT);
    }
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot add hooks");
    return ok();
}

Result<void> TcgVcpu::set_boot_state(uint64_t entry, uint64_t fdt_address) {
    uint64_t zero = 0, flags = 2;
    uc_err err = uc_reg_write(m_uc, UC_X86_REG_RSP, &zero);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_RDI, &fdt_address);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_RFLAGS, &flags);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_RIP, &entry);
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot set the boot registers");
    return ok();
}

uint64_t TcgVcpu::rip() const {
    uint64_t rip = 0;
    uc_reg_read(m_uc, UC_X86_REG_RIP, &rip);
    return rip;
}

Result<TcgVcpu::Exit> TcgVcpu::run() {
    // A stop requested before uc_emu_start would be lost (it clears it).
    if (m_pause.load(std::memory_order_acquire)) return Exit::Paused;
    m_stopped_by_us = false;
    m_ran.store(true, std::memory_order_relaxed);
    uc_err err = uc_emu_start(m_uc, rip(), 0, 0, 0);
    if (err != UC_ERR_OK) return Error("guest fault at RIP " + hex(rip()) + ": " + uc_strerror(err));
    return m_stopped_by_us ? Exit::Paused : Exit::Halted;
}

void TcgVcpu::invalidate(uint64_t begin, uint64_t end) {
    // Nothing translated yet (a live update's destination): nothing to
    // drop, and Unicorn's walk over every page would cost ~2 ms per GiB.
    if (!m_ran.load(std::memory_order_relaxed)) return;
    uc_ctl_remove_cache(m_uc, begin, end);
}

Result<void> TcgVcpu::drop_ram_code() {
    for (const GuestMemory::Region& r : m_ram.regions()) {
        uc_err err = uc_ctl_remove_cache(m_uc, r.gpa, r.gpa + r.size_bytes);
        if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot drop translated code");
    }
    return ok();
}

Result<void> TcgVcpu::set_dirty_bitmap(DirtyBitmap* bitmap) {
    if (m_write_hook) {
        uc_hook_del(m_uc, m_write_hook);
        m_write_hook = 0;
    }
    m_dirty = bitmap;
    if (!bitmap) {
        // Blocks translated with the hook still call into it (and run
        // ~40 % slower): drop them too.
        return drop_ram_code();
    }
    uc_hook h;
    // SAFETY: as in add_hooks().  One hook over all of guest RAM, the
    // hole included (on_write ignores what is not RAM).
    uc_err err = uc_hook_add(m_uc, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(&on_write), this,
                             0, m_ram.gpa_end() - 1);
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot track dirty pages");
    m_write_hook = h;
    // Code translated before the hook existed does not call it: drop the
    // translated blocks of guest RAM (all guest code lives there) so that
    // all guest stores are seen from now on.  Not uc_ctl_flush_tlb: its
    // tb_flush clears Unicorn's whole 1 GiB code buffer, which makes it
    // resident and takes seconds.
    return drop_ram_code();
}

bool TcgVcpu::on_write(uc_struct*, int, uint64_t address, int size, int64_t, void* opaque) {
    auto* self = static_cast<TcgVcpu*>(opaque);
    // The bitmap is by host offset: high RAM's pages follow low RAM's.
    std::optional<uint64_t> offset = self->m_ram.host_offset(address);
    if (self->m_dirty && offset) self->m_dirty->mark(*offset, static_cast<uint64_t>(size));
    return true;
}

void TcgVcpu::on_block(uc_struct* uc, uint64_t, uint32_t, void* opaque) {
    auto* self = static_cast<TcgVcpu*>(opaque);
    if (self->m_pause.load(std::memory_order_acquire)) {
        self->m_stopped_by_us = true;
        uc_emu_stop(uc);
    }
}

uint64_t TcgVcpu::on_mmio_read(uc_struct*, uint64_t offset, unsigned size, void* opaque) {
    auto* w = static_cast<MappedWindow*>(opaque);
    uint8_t data[8];
    std::memset(data, 0xff, sizeof(data));
    size_t n = size <= 8 ? size : 8;
    w->self->m_mmio.read(w->base + offset, std::span(data, n));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{data[i]} << (8 * i);
    return v;
}

void TcgVcpu::on_mmio_write(uc_struct*, uint64_t offset, unsigned size, uint64_t value, void* opaque) {
    auto* w = static_cast<MappedWindow*>(opaque);
    uint8_t data[8];
    size_t n = size <= 8 ? size : 8;
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(value >> (8 * i));
    w->self->m_mmio.write(w->base + offset, std::span<const uint8_t>(data, n));
}

uint32_t TcgVcpu::on_in(uc_struct*, uint32_t port, int size, void* opaque) {
    auto* self = static_cast<TcgVcpu*>(opaque);
    uint8_t data[4] = {0xff, 0xff, 0xff, 0xff};
    size_t n = size == 1 || size == 2 || size == 4 ? static_cast<size_t>(size) : 1;
    self->m_pio.read(port, std::span(data, n));
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint32_t{data[i]} << (8 * i);
    return v;
}

void TcgVcpu::on_out(uc_struct*, uint32_t port, int size, uint32_t value, void* opaque) {
    auto* self = static_cast<TcgVcpu*>(opaque);
    uint8_t data[4];
    size_t n = size == 1 || size == 2 || size == 4 ? static_cast<size_t>(size) : 1;
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(value >> (8 * i));
    self->m_pio.write(port, std::span<const uint8_t>(data, n));
}

}  // namespace molt::hw

namespace molt::hw {

namespace {

constexpr uint32_t kMsrEfer = 0xc0000080;

struct Gpr {
    int id;
    uint64_t api::X86CpuState::*member;
};
constexpr Gpr kGprs[] = {
    {UC_X86_REG_RAX, &api::X86CpuState::rax}, {UC_X86_REG_RBX, &api::X86CpuState::rbx},
    {UC_X86_REG_RCX, &api::X86CpuState::rcx}, {UC_X86_REG_RDX, &api::X86CpuState::rdx},
    {UC_X86_REG_RSI, &api::X86CpuState::rsi}, {UC_X86_REG_RDI, &api::X86CpuState::rdi},
    {UC_X86_REG_RSP, &api::X86CpuState::rsp}, {UC_X86_REG_RBP, &api::X86CpuState::rbp},
    {UC_X86_REG_R8, &api::X86CpuState::r8}, {UC_X86_REG_R9, &api::X86CpuState::r9},
    {UC_X86_REG_R10, &api::X86CpuState::r10}, {UC_X86_REG_R11, &api::X86CpuState::r11},
    {UC_X86_REG_R12, &api::X86CpuState::r12}, {UC_X86_REG_R13, &api::X86CpuState::r13},
    {UC_X86_REG_R14, &api::X86CpuState::r14}, {UC_X86_REG_R15, &api::X86CpuState::r15},
    {UC_X86_REG_RFLAGS, &api::X86CpuState::rflags},
    {UC_X86_REG_CR0, &api::X86CpuState::cr0}, {UC_X86_REG_CR2, &api::X86CpuState::cr2},
    {UC_X86_REG_CR3, &api::X86CpuState::cr3}, {UC_X86_REG_CR4, &api::X86CpuState::cr4},
};

struct Seg {
    int id;
    Box<api::X86Segment> api::X86CpuState::*member;
    bool code;
};
constexpr Seg kSegs[] = {
    {UC_X86_REG_CS, &api::X86CpuState::cs, true}, {UC_X86_REG_DS, &api::X86CpuState::ds, false},
    {UC_X86_REG_ES, &api::X86CpuState::es, false}, {UC_X86_REG_FS, &api::X86CpuState::fs, false},
    {UC_X86_REG_GS, &api::X86CpuState::gs, false}, {UC_X86_REG_SS, &api::X86CpuState::ss, false},
};

api::X86Segment flat(uint16_t selector, bool code) {
    api::X86Segment s{};
    s.selector = selector;
    s.limit = 0xffffffff;
    s.type = code ? 0xb : 0x3;
    s.present = true;
    s.s = true;
    s.l = code;
    s.db = !code;
    s.g = true;
    return s;
}

}  // namespace

Result<api::X86CpuState> TcgVcpu::save_state() const {
    api::X86CpuState st{};
    uc_err err = UC_ERR_OK;
    for (const Gpr& g : kGprs) {
        if (err == UC_ERR_OK) err = uc_reg_read(m_uc, g.id, &(st.*g.member));
    }
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_RIP, &st.rip);
    for (const Seg& sg : kSegs) {
        uint64_t sel = 0;
        if (err == UC_ERR_OK) err = uc_reg_read(m_uc, sg.id, &sel);
        *(st.*sg.member) = flat(static_cast<uint16_t>(sel), sg.code);
    }
    uc_x86_mmr gdt{}, idt{};
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_GDTR, &gdt);
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_IDTR, &idt);
    uc_x86_msr efer{kMsrEfer, 0};
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_MSR, &efer);
    uint64_t fs_base = 0, gs_base = 0;
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_FS_BASE, &fs_base);
    if (err == UC_ERR_OK) err = uc_reg_read(m_uc, UC_X86_REG_GS_BASE, &gs_base);
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot read the vCPU state");
    st.gdt->base = gdt.base;
    st.gdt->limit = static_cast<uint16_t>(gdt.limit);
    st.idt->base = idt.base;
    st.idt->limit = static_cast<uint16_t>(idt.limit);
    st.efer = efer.value;
    st.fs->base = fs_base;
    st.gs->base = gs_base;
    return st;
}

Result<void> TcgVcpu::load_state(const api::X86CpuState& st) {
    uc_err err = UC_ERR_OK;
    for (const Seg& sg : kSegs) {
        uint64_t sel = (st.*sg.member)->selector;
        if (err == UC_ERR_OK) err = uc_reg_write(m_uc, sg.id, &sel);
    }
    uc_x86_mmr gdt{0, st.gdt->base, st.gdt->limit, 0}, idt{0, st.idt->base, st.idt->limit, 0};
    uc_x86_msr efer{kMsrEfer, st.efer};
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_GDTR, &gdt);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_IDTR, &idt);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_MSR, &efer);
    // An FS/GS selector write reloads the base: the bases come after.
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_FS_BASE, &st.fs->base);
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_GS_BASE, &st.gs->base);
    for (const Gpr& g : kGprs) {
        if (err == UC_ERR_OK) err = uc_reg_write(m_uc, g.id, &(st.*g.member));
    }
    if (err == UC_ERR_OK) err = uc_reg_write(m_uc, UC_X86_REG_RIP, &st.rip);
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot write the vCPU state");
    return ok();
}

}  // namespace molt::hw
