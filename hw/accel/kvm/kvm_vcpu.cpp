// KvmVcpu; see kvm_vcpu.h.
#include "hw/accel/kvm/kvm_vcpu.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace molt::hw {

namespace {

constexpr uint64_t kGdtAddress = 0x500;
constexpr uint64_t kPml4Address = 0x9000;   // then the PDPT, then page directories
constexpr uint64_t kPageTablesEnd = 0x20000;   // Linux's command line follows
// One page directory maps 1 GiB; there is room for 21 below kPageTablesEnd.
constexpr uint64_t kMaxPageDirectories = (kPageTablesEnd - kPml4Address) / 0x1000 - 2;
constexpr int kKickSignal = SIGUSR1;

void on_kick(int) {}   // only interrupts KVM_RUN

void install_kick_handler() {
    static bool installed = [] {
        struct sigaction sa {};
        sa.sa_handler = on_kick;
        sigemptyset(&sa.sa_mask);
        sigaction(kKickSignal, &sa, nullptr);   // no SA_RESTART: KVM_RUN returns EINTR
        return true;
    }();
    (void)installed;
}

// Identity map with 2 MiB pages (Intel SDM vol. 3A 4.5) of the first
// 4 GiB (low RAM and the MMIO hole) and of high RAM, as far as
// kMaxPageDirectories GiB reach (21 GiB): enough for the test guests.
Result<void> write_page_tables(const GuestMemory& ram) {
    constexpr uint64_t kPresentWritable = 0x3, kLargePage = 0x80;
    uint64_t gib = std::max<uint64_t>(4, (ram.gpa_end() + (uint64_t{1} << 30) - 1) >> 30);
    uint64_t directories = std::min(gib, kMaxPageDirectories);
    uint64_t pdpt = kPml4Address + 0x1000;
    if (!ram.contains(kPml4Address, (2 + directories) * 0x1000)) {
        return Error("guest RAM too small for the page tables");
    }
    MOLT_TRY(ram.write_obj(kPml4Address, pdpt | kPresentWritable));
    for (uint64_t i = 0; i < directories; ++i) {
        uint64_t pd = pdpt + 0x1000 * (i + 1);
        MOLT_TRY(ram.write_obj(pdpt + 8 * i, pd | kPresentWritable));
        for (uint64_t j = 0; j < 512; ++j) {
            uint64_t addr = (i << 30) | (j << 21);
            MOLT_TRY(ram.write_obj(pd + 8 * j, addr | kPresentWritable | kLargePage));
        }
    }
    return ok();
}

// Flat 64-bit code and data descriptors at the given selectors, the rest
// null: molt's guests use 0x08/0x10, Linux's boot protocol 0x10/0x18.
struct Selectors {
    uint16_t code, data;
};
constexpr Selectors kMoltSelectors{0x08, 0x10}, kLinuxSelectors{0x10, 0x18};

Result<uint16_t> write_gdt(const GuestMemory& ram, Selectors sel) {
    constexpr uint64_t kCode64 = 0x00af9b000000ffffull, kData = 0x00cf93000000ffffull;
    uint16_t entries = static_cast<uint16_t>(std::max(sel.code, sel.data) / 8 + 1);
    for (uint16_t i = 0; i < entries; ++i) {
        uint64_t d = i * 8 == sel.code ? kCode64 : i * 8 == sel.data ? kData : 0;
        MOLT_TRY(ram.write_obj(kGdtAddress + 8 * i, d));
    }
    return static_cast<uint16_t>(entries * 8 - 1);
}

kvm_segment segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.g = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    return s;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

Result<std::unique_ptr<KvmVcpu>> KvmVcpu::create(const kvm::Kvm& kvm, const kvm::VmFd& vm,
                                                 const GuestMemory& ram, const Bus& pio,
                                                 const Bus& mmio) {
    kvm::VcpuFd fd = MOLT_TRY(vm.create_vcpu(0));
    std::vector<kvm_cpuid_entry2> cpuid = MOLT_TRY(kvm.supported_cpuid());
    for (kvm_cpuid_entry2& e : cpuid) {
        // "Running under a hypervisor": how a guest knows to look for
        // KVM's leaves at 0x40000000 (kvm-clock); KVM leaves the bit to us.
        if (e.function == 1) e.ecx |= 1u << 31;
    }
    MOLT_TRY(fd.set_cpuid(cpuid));
    install_kick_handler();
    return std::unique_ptr<KvmVcpu>(new KvmVcpu(std::move(fd), ram, pio, mmio));
}

Result<void> KvmVcpu::set_boot_state(uint64_t entry, uint64_t fdt_address) {
    kvm_regs r{};
    r.rip = entry;
    r.rdi = fdt_address;
    r.rflags = 2;
    return enter_long_mode(r, kMoltSelectors.code, kMoltSelectors.data);
}

Result<void> KvmVcpu::set_linux_boot_state(uint64_t entry, uint64_t boot_params) {
    kvm_regs r{};
    r.rip = entry;
    r.rsi = boot_params;
    r.rflags = 2;   // interrupts off
    return enter_long_mode(r, kLinuxSelectors.code, kLinuxSelectors.data);
}

Result<void> KvmVcpu::enter_long_mode(const kvm_regs& regs, uint16_t code, uint16_t data) {
    Selectors sel{code, data};
    MOLT_TRY(write_page_tables(m_ram));
    uint16_t gdt_limit = MOLT_TRY(write_gdt(m_ram, sel));
    kvm_sregs s = MOLT_TRY(m_fd.sregs());
    s.cs = segment(sel.code, 0xb, true);
    s.ds = s.es = s.fs = s.gs = s.ss = segment(sel.data, 0x3, false);
    s.gdt.base = kGdtAddress;
    s.gdt.limit = gdt_limit;
    s.cr0 = 0x80050033;   // PG, AM, WP, NE, ET, MP, PE
    s.cr3 = kPml4Address;
    s.cr4 = 0x20;         // PAE
    s.efer = 0x500;       // LMA, LME
    MOLT_TRY(m_fd.set_sregs(s));
    return m_fd.set_regs(regs);
}

void KvmVcpu::on_thread_start() {
    m_thread = pthread_self();
    m_thread_known.store(true, std::memory_order_release);
}

void KvmVcpu::request_pause() {
    m_pause.store(true, std::memory_order_release);
    // SAFETY: immediate_exit is the one kvm_run field userspace may set
    // while another thread is in KVM_RUN (api.rst, "immediate_exit").
    __atomic_store_n(&m_fd.run_area()->immediate_exit, 1, __ATOMIC_RELEASE);
    if (m_thread_known.load(std::memory_order_acquire)) pthread_kill(m_thread, kKickSignal);
}

void KvmVcpu::clear_pause() {
    m_pause.store(false, std::memory_order_release);
    __atomic_store_n(&m_fd.run_area()->immediate_exit, 0, __ATOMIC_RELEASE);
}

Result<Vcpu::Exit> KvmVcpu::run() {
    bool pending = false;   // an I/O or MMIO exit handled, not yet completed by KVM
    while (true) {
        bool pause = m_pause.load(std::memory_order_acquire);
        if (pause && !pending) return Exit::Paused;
        if (pause) {
            // KVM completes an I/O or MMIO exit (RIP past the instruction,
            // the data of an IN or a read in place) only in the next
            // KVM_RUN; with immediate_exit set, that KVM_RUN completes it
            // and returns EINTR without running guest code (api.rst,
            // KVM_RUN).  Paused without it, a saved state would replay
            // the access.
            // SAFETY: as in request_pause().
            __atomic_store_n(&m_fd.run_area()->immediate_exit, 1, __ATOMIC_RELEASE);
        }
        Result<void> r = m_fd.run();
        pending = false;
        if (!r) {
            int err = r.error().errno_value();
            if (err == EINTR || err == EAGAIN) continue;
            return r.error();
        }
        uint32_t reason = m_fd.run_area()->exit_reason;
        pending = reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO;
        std::optional<Exit> exit = MOLT_TRY(handle_exit());
        if (exit) return *exit;
    }
}

Result<std::optional<Vcpu::Exit>> KvmVcpu::handle_exit() {
    kvm_run& run = *m_fd.run_area();
    switch (run.exit_reason) {
    case KVM_EXIT_IO: handle_io(run); return std::nullopt;
    case KVM_EXIT_MMIO: handle_mmio(run); return std::nullopt;
    case KVM_EXIT_INTR: return std::nullopt;
    case KVM_EXIT_HLT: return Exit::Halted;
    case KVM_EXIT_SHUTDOWN: return Exit::Reset;   // a triple fault
    case KVM_EXIT_FAIL_ENTRY:
        return Error("KVM entry failed, hardware reason " +
                     hex(run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
        return Error("KVM internal error, suberror " + std::to_string(run.internal.suberror));
    default:
        return Error("unexpected KVM exit " + std::to_string(run.exit_reason));
    }
}

void KvmVcpu::handle_io(kvm_run& run) {
    // SAFETY: the I/O data lies inside the kvm_run mapping at data_offset.
    uint8_t* data = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset;
    for (uint32_t i = 0; i < run.io.count; ++i, data += run.io.size) {
        std::span<uint8_t> bytes(data, run.io.size);
        if (run.io.direction == KVM_EXIT_IO_OUT) {
            m_pio.write(run.io.port, bytes);
        } else if (!m_pio.read(run.io.port, bytes)) {
            std::memset(data, 0xff, run.io.size);
        }
    }
}

void KvmVcpu::handle_mmio(kvm_run& run) {
    std::span<uint8_t> bytes(run.mmio.data, run.mmio.len);
    if (run.mmio.is_write) {
        m_mmio.write(run.mmio.phys_addr, bytes);
    } else if (!m_mmio.read(run.mmio.phys_addr, bytes)) {
        std::memset(run.mmio.data, 0xff, run.mmio.len);
    }
}

}  // namespace molt::hw

namespace molt::hw {

namespace {

api::X86Segment from_kvm(const kvm_segment& k) {
    api::X86Segment s{};
    s.selector = k.selector;
    s.base = k.base;
    s.limit = k.limit;
    s.type = k.type;
    s.present = k.present;
    s.dpl = k.dpl;
    s.db = k.db;
    s.s = k.s;
    s.l = k.l;
    s.g = k.g;
    s.avl = k.avl;
    return s;
}

kvm_segment to_kvm(const api::X86Segment& s, const kvm_segment& old) {
    kvm_segment k = old;
    k.selector = s.selector;
    k.base = s.base;
    k.limit = s.limit;
    k.type = s.type;
    k.present = s.present;
    k.dpl = s.dpl;
    k.db = s.db;
    k.s = s.s;
    k.l = s.l;
    k.g = s.g;
    k.avl = s.avl;
    k.unusable = !s.present;
    return k;
}

// kvm_regs' fields and the schema's members, one table for both directions.
struct RegPair {
    __u64 kvm_regs::*kvm;
    uint64_t api::X86CpuState::*state;
};
using S = api::X86CpuState;
constexpr RegPair kRegs[] = {
    {&kvm_regs::rax, &S::rax}, {&kvm_regs::rbx, &S::rbx}, {&kvm_regs::rcx, &S::rcx},
    {&kvm_regs::rdx, &S::rdx}, {&kvm_regs::rsi, &S::rsi}, {&kvm_regs::rdi, &S::rdi},
    {&kvm_regs::rsp, &S::rsp}, {&kvm_regs::rbp, &S::rbp}, {&kvm_regs::r8, &S::r8},
    {&kvm_regs::r9, &S::r9}, {&kvm_regs::r10, &S::r10}, {&kvm_regs::r11, &S::r11},
    {&kvm_regs::r12, &S::r12}, {&kvm_regs::r13, &S::r13}, {&kvm_regs::r14, &S::r14},
    {&kvm_regs::r15, &S::r15}, {&kvm_regs::rip, &S::rip}, {&kvm_regs::rflags, &S::rflags},
};

}  // namespace

Result<api::X86CpuState> KvmVcpu::save_state() const {
    kvm_regs r = MOLT_TRY(m_fd.regs());
    kvm_sregs s = MOLT_TRY(m_fd.sregs());
    api::X86CpuState st{};
    for (const RegPair& p : kRegs) st.*p.state = r.*p.kvm;
    *st.cs = from_kvm(s.cs);
    *st.ds = from_kvm(s.ds);
    *st.es = from_kvm(s.es);
    *st.fs = from_kvm(s.fs);
    *st.gs = from_kvm(s.gs);
    *st.ss = from_kvm(s.ss);
    st.gdt->base = s.gdt.base;
    st.gdt->limit = s.gdt.limit;
    st.idt->base = s.idt.base;
    st.idt->limit = s.idt.limit;
    st.cr0 = s.cr0; st.cr2 = s.cr2; st.cr3 = s.cr3; st.cr4 = s.cr4;
    st.efer = s.efer;
    return st;
}

Result<void> KvmVcpu::load_state(const api::X86CpuState& st) {
    kvm_sregs s = MOLT_TRY(m_fd.sregs());
    s.cs = to_kvm(*st.cs, s.cs);
    s.ds = to_kvm(*st.ds, s.ds);
    s.es = to_kvm(*st.es, s.es);
    s.fs = to_kvm(*st.fs, s.fs);
    s.gs = to_kvm(*st.gs, s.gs);
    s.ss = to_kvm(*st.ss, s.ss);
    s.gdt.base = st.gdt->base;
    s.gdt.limit = st.gdt->limit;
    s.idt.base = st.idt->base;
    s.idt.limit = st.idt->limit;
    s.cr0 = st.cr0; s.cr2 = st.cr2; s.cr3 = st.cr3; s.cr4 = st.cr4;
    s.efer = st.efer;
    MOLT_TRY(m_fd.set_sregs(s));
    kvm_regs r{};
    for (const RegPair& p : kRegs) r.*p.kvm = st.*p.state;
    return m_fd.set_regs(r);
}

}  // namespace molt::hw
