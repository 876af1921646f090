// TcgVcpu; see tcg_vcpu.h.
#include "hw/accel/tcg/tcg_vcpu.h"

#include <unicorn/unicorn.h>

#include <cstdio>

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

Result<std::unique_ptr<TcgVcpu>> TcgVcpu::create(const GuestMemory& ram, const Bus& pio) {
    uc_engine* uc = nullptr;
    uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot start the Unicorn engine");
    std::unique_ptr<TcgVcpu> cpu(new TcgVcpu(uc, pio));
    std::span<uint8_t> host = ram.host_mapping();
    if (host.size() % 4096 != 0) return Error("tcg: guest RAM size must be a multiple of 4 KiB");
    err = uc_mem_map_ptr(uc, 0, host.size(), UC_PROT_ALL, host.data());
    if (err != UC_ERR_OK) return uc_error(err, "tcg: cannot map guest RAM");
    MOLT_TRY(cpu->add_hooks());
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
    uc_err err = uc_emu_start(m_uc, rip(), 0, 0, 0);
    if (err != UC_ERR_OK) return Error("guest fault at RIP " + hex(rip()) + ": " + uc_strerror(err));
    return m_stopped_by_us ? Exit::Paused : Exit::Halted;
}

void TcgVcpu::invalidate(uint64_t begin, uint64_t end) { uc_ctl_remove_cache(m_uc, begin, end); }

void TcgVcpu::on_block(uc_struct* uc, uint64_t, uint32_t, void* opaque) {
    auto* self = static_cast<TcgVcpu*>(opaque);
    if (self->m_pause.load(std::memory_order_acquire)) {
        self->m_stopped_by_us = true;
        uc_emu_stop(uc);
    }
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
