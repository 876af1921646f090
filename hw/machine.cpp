// Machine; see machine.h.  The wiring: RAM at guest-physical 0 (and above
// 4 GiB past kLowRamLimit), COM1 on the port bus, virtio-mmio windows on
// the MMIO bus, interrupt lines, the vCPU and the boot image.
#include "hw/machine.h"

#include "hw/boot/acpi.h"
#include "hw/boot/elf_loader.h"
#include "hw/boot/fdt.h"
#include "hw/boot/image_file.h"
#include "hw/boot/linux_loader.h"
#include "hw/accel/kvm/kvm_vcpu.h"
#include "hw/accel/tcg/tcg_vcpu.h"

namespace molt::hw {

Machine::Machine(MachineSetup setup, std::span<uint8_t> ram)
    : m_setup(std::move(setup)), m_ram(ram, kLowRamLimit), m_serial(std::move(m_setup.serial_out)) {}

Machine::~Machine() {
    m_thread.reset();   // joins before the vCPU and the devices go
}

Result<std::unique_ptr<Machine>> Machine::create(MachineSetup setup, std::span<uint8_t> ram,
                                                 std::function<void()> notify) {
    std::unique_ptr<Machine> m(new Machine(std::move(setup), ram));
    m->m_notify = std::move(notify);
    MOLT_TRY(m->wire_devices());
    if (!m->m_setup.kernel) {
        if (m->m_setup.initrd) return Error("-initrd needs -kernel");
        return m;
    }
    {
        // Only the header decides the format; the loaders read the file.
        Result<std::vector<uint8_t>> image = read_image_file(*m->m_setup.kernel);
        if (!image) return Error(image.error()).with_context("-kernel");
        m->m_linux = is_bzimage(*image);
    }
    if (m->m_linux && m->m_setup.accel == MachineSetup::Accel::Tcg) {
        return Error("-kernel: a Linux kernel needs -accel kvm (tcg injects no interrupts)");
    }
    if (!m->m_linux && m->m_setup.initrd) {
        return Error("-initrd: only a Linux kernel (bzImage) takes an initrd");
    }
    MOLT_TRY(m->create_vcpu());
    if (!m->m_setup.incoming) {
        Result<void> r = m->load_guest();
        if (!r) return m->m_linux ? r.error() : Error(r.error()).with_context("-kernel");
    }
    m->m_thread = std::make_unique<VcpuThread>(*m->m_vcpu, m->m_notify);
    return m;
}

IrqLine* Machine::irq_line(uint32_t gsi) {
    if (m_setup.accel != MachineSetup::Accel::Kvm) return nullptr;
    m_irq_lines.push_back(std::make_unique<kvm::KvmIrqLine>(m_irq_vm, gsi));
    return m_irq_lines.back().get();
}

Result<void> Machine::wire_devices() {
    MOLT_TRY(m_pio.insert(Serial16550::kCom1Base, Serial16550::kRegisterCount, &m_serial));
    m_serial.set_irq(irq_line(Serial16550::kCom1Irq));
    if (m_ram.gpa_end() > kMaxGuestPhysical) {
        return Error("-m: " + std::to_string(m_ram.size_bytes() >> 20) + " MiB of guest RAM "
                     "would reach above the 1 TiB guest-physical limit (3.25 GiB below the "
                     "MMIO hole, the rest from 4 GiB)");
    }
    if (m_ram.size_bytes() % 4096 != 0) {
        return Error("-m: guest RAM size must be a multiple of 4 KiB");
    }
    FdtDescription desc{{}, m_setup.bootargs,
                        static_cast<uint32_t>(Serial16550::kCom1Base), Serial16550::kCom1Irq, {}};
    for (const GuestMemory::Region& r : m_ram.regions()) {
        desc.memory.push_back({r.gpa, r.size_bytes});
    }
    if (m_setup.nets.size() > kMaxVirtioDevices) {
        return Error("at most " + std::to_string(kMaxVirtioDevices) + " virtio devices");
    }
    for (size_t i = 0; i < m_setup.nets.size(); ++i) {
        NetSetup& n = m_setup.nets[i];
        auto* net = new virtio::Net(std::move(n.tap), n.mac);
        net->set_wake(m_notify);
        auto transport = std::make_unique<virtio::MmioTransport>(std::unique_ptr<virtio::Device>(net), m_ram);
        uint64_t base = kVirtioBase + i * kVirtioStride;
        uint32_t gsi = kVirtioFirstGsi + static_cast<uint32_t>(i);
        MOLT_TRY(m_mmio.insert(base, virtio::MmioTransport::kWindowBytes, transport.get()));
        transport->set_irq(irq_line(gsi));
        m_nets.push_back({n.id, net, std::move(transport)});
        desc.virtio_mmio.push_back({base, gsi});
    }
    Result<std::vector<uint8_t>> fdt = build_fdt(desc);
    if (!fdt) return fdt.error();
    m_fdt = std::move(*fdt);
    return ok();
}

Result<void> Machine::create_vcpu() {
    if (m_setup.accel == MachineSetup::Accel::Kvm) {
        Result<void> r = create_kvm_vcpu();
        if (!r) return Error(r.error()).with_context("-accel kvm");
        return ok();
    }
    std::vector<TcgVcpu::Window> windows;
    for (size_t i = 0; i < m_nets.size(); ++i) {
        windows.push_back({kVirtioBase + i * kVirtioStride, kVirtioStride});
    }
    std::optional<TcgEngine> engine = std::move(m_setup.tcg_engine);
    m_setup.tcg_engine.reset();
    m_vcpu = MOLT_TRY(TcgVcpu::create(m_ram, m_pio, m_mmio, windows, std::move(engine)));
    // Tracking may be on already when a state load creates the vCPU.
    if (m_dirty) MOLT_TRY(m_vcpu->set_dirty_bitmap(m_dirty.get()));
    return ok();
}

// A VM with the in-kernel irqchip and PIT, RAM in slots 0 and 1 (dirty-
// logged while tracking is on), and vCPU 0.
Result<void> Machine::create_kvm_vcpu() {
    if (!m_kvm) m_kvm = std::make_unique<kvm::Kvm>(MOLT_TRY(kvm::Kvm::open()));
    m_vm = std::make_unique<kvm::VmFd>(MOLT_TRY(m_kvm->create_vm()));
    // Intel VMX needs three pages for the real-mode TSS; just below 4 GiB.
    MOLT_TRY(m_vm->set_tss_addr(0xfffbd000));
    MOLT_TRY(m_vm->create_irqchip());
    MOLT_TRY(m_vm->create_pit());
    MOLT_TRY(set_kvm_slots(m_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0));
    m_vcpu = MOLT_TRY(KvmVcpu::create(*m_kvm, *m_vm, m_ram, m_pio, m_mmio));
    for (auto& line : m_irq_lines) line->forget_level();
    m_irq_vm.store(m_vm.get(), std::memory_order_release);
    return ok();
}

// The vCPU thread must be gone.  Pages the old VM logged as dirty are kept.
void Machine::destroy_kvm_vcpu() {
    m_irq_vm.store(nullptr, std::memory_order_release);
    if (m_dirty && m_vm && !merge_kvm_dirty_log()) {
        m_dirty->mark(0, m_ram.size_bytes());   // unknown: all of RAM
    }
    m_vcpu.reset();
    m_vm.reset();
}

Result<void> Machine::set_kvm_slots(uint32_t flags) {
    uint32_t slot = 0;
    for (const GuestMemory::Region& r : m_ram.regions()) {
        std::span<uint8_t> host = m_ram.host_span(r);
        MOLT_TRY(m_vm->set_memory(slot++, r.gpa, host.size(), host.data(), flags));
    }
    return ok();
}

Result<void> Machine::merge_kvm_dirty_log() {
    uint32_t slot = 0;
    for (const GuestMemory::Region& r : m_ram.regions()) {
        uint64_t pages = (r.size_bytes + 4095) / 4096;
        size_t words = static_cast<size_t>((pages + 63) / 64);
        // (Not MOLT_TRY: GCC 12 warns falsely on a moved-out vector there.)
        Result<std::vector<uint64_t>> bits = m_vm->dirty_log(slot++, words);
        if (!bits) return bits.error();
        m_dirty->merge(*bits, r.host_offset / 4096);
    }
    return ok();
}

void Machine::destroy_vcpu() {
    if (m_setup.accel == MachineSetup::Accel::Kvm) {
        destroy_kvm_vcpu();
    } else {
        m_vcpu.reset();
    }
}

Result<void> Machine::load_guest() {
    if (m_linux) return load_linux();
    LoadedImage img = MOLT_TRY(load_elf(*m_setup.kernel, m_ram));
    if (img.low < kFdtAddress + kFdtMaxBytes && img.high > kFdtAddress) {
        return Error("the guest image overlaps the device tree at 0x80000-0xfffff");
    }
    if (m_fdt.size() > kFdtMaxBytes || !m_ram.contains(kFdtAddress, m_fdt.size())) {
        return Error("no room for the device tree in guest RAM");
    }
    MOLT_TRY(m_ram.write(kFdtAddress, m_fdt));
    m_vcpu->invalidate(img.low, img.high);
    return m_vcpu->set_boot_state(img.entry, kFdtAddress);
}

Result<void> Machine::load_linux() {
    // (Not MOLT_TRY: GCC 12 warns falsely on a moved-out vector there.)
    Result<std::vector<uint8_t>> kernel = read_image_file(*m_setup.kernel);
    if (!kernel) return Error(kernel.error()).with_context("-kernel");
    Result<std::vector<uint8_t>> initrd = std::vector<uint8_t>{};
    if (m_setup.initrd) {
        initrd = read_image_file(*m_setup.initrd);
        if (!initrd) return Error(initrd.error()).with_context("-initrd");
    }
    AcpiDescription acpi{static_cast<uint16_t>(Serial16550::kCom1Base), Serial16550::kCom1Irq, {}};
    for (size_t i = 0; i < m_nets.size(); ++i) {
        acpi.virtio_mmio.push_back({kVirtioBase + i * kVirtioStride,
                                    static_cast<uint32_t>(virtio::MmioTransport::kWindowBytes),
                                    kVirtioFirstGsi + static_cast<uint32_t>(i)});
    }
    std::vector<uint8_t> tables = build_acpi_tables(acpi, kFirmwareAddress);
    MOLT_ASSERT(tables.size() <= kFirmwareBytes);
    if (!m_ram.contains(0, kKernelAddress)) return Error("-m: guest RAM too small for a Linux guest");
    MOLT_TRY(m_ram.write(kFirmwareAddress, tables));
    Result<LoadedLinux> l = hw::load_linux({*kernel, *initrd, m_setup.bootargs, kFirmwareAddress}, m_ram);
    if (!l) return Error(l.error()).with_context("-kernel");
    return static_cast<KvmVcpu&>(*m_vcpu).set_linux_boot_state(l->entry, l->boot_params);
}

void Machine::resume() {
    m_running = true;
    if (m_thread) m_thread->resume();
    if (m_notify) m_notify();   // the main loop serves kicks and re-arms the TAPs
}

void Machine::pause() {
    if (m_thread) m_thread->pause();
    m_running = false;
}

Result<void> Machine::reset() {
    m_serial.reset();
    for (NetDevice& n : m_nets) n.transport->device_reset();
    if (!m_thread) return ok();
    m_failure_reported = false;
    m_reset_reported = false;
    if (!m_setup.kernel) {
        // A machine without a guest got its vCPU from a state load: at
        // power-on it has no guest code again.
        m_thread.reset();
        destroy_vcpu();
        return ok();
    }
    if (m_setup.accel == MachineSetup::Accel::Kvm) {
        m_thread.reset();
        std::lock_guard guard(m_dirty_lock);
        destroy_kvm_vcpu();
        MOLT_TRY(create_kvm_vcpu());
        m_thread = std::make_unique<VcpuThread>(*m_vcpu, m_notify);
    } else {
        m_thread->rearm();
    }
    // RAM keeps its contents across a reset, as on real hardware; the
    // image is reloaded so that the guest starts from its initial data.
    return load_guest();
}

bool Machine::pause_for_access() {
    bool was_running = m_thread->state() == VcpuThread::State::Running;
    m_thread->pause();
    return was_running;
}

void Machine::resume_after_access(bool was_running) {
    if (was_running) m_thread->resume();
}

Result<api::X86CpuState> Machine::cpu_state() {
    if (!m_vcpu) return Error("this machine has no vCPU state: no guest was given (-kernel)");
    bool was_running = pause_for_access();
    Result<api::X86CpuState> st = m_vcpu->save_state();
    resume_after_access(was_running);
    return st;
}

std::vector<std::string> Machine::migration_blockers() const {
    return {};
}

Result<void> Machine::start_dirty_log() {
    std::lock_guard guard(m_dirty_lock);
    if (m_dirty) return Error("dirty page tracking is already on");
    auto bitmap = std::make_unique<DirtyBitmap>(m_ram.size_bytes());
    if (m_vm) MOLT_TRY(set_kvm_slots(KVM_MEM_LOG_DIRTY_PAGES));
    if (m_vcpu) {
        bool was_running = pause_for_access();
        Result<void> r = m_vcpu->set_dirty_bitmap(bitmap.get());
        resume_after_access(was_running);
        MOLT_TRY(r);
    }
    m_ram.set_dirty_bitmap(bitmap.get());
    m_dirty = std::move(bitmap);
    return ok();
}

Result<std::vector<uint64_t>> Machine::sync_dirty_log() {
    std::lock_guard guard(m_dirty_lock);
    if (!m_dirty) return Error("dirty page tracking is off");
    if (m_vm) MOLT_TRY(merge_kvm_dirty_log());
    return m_dirty->take();
}

Result<void> Machine::stop_dirty_log() {
    std::lock_guard guard(m_dirty_lock);
    if (!m_dirty) return ok();
    m_ram.set_dirty_bitmap(nullptr);
    if (m_vcpu) {
        bool was_running = pause_for_access();
        Result<void> r = m_vcpu->set_dirty_bitmap(nullptr);
        resume_after_access(was_running);
        MOLT_TRY(r);
    }
    if (m_vm) MOLT_TRY(set_kvm_slots(0));
    m_dirty.reset();
    return ok();
}

std::optional<Error> Machine::take_failure() {
    if (!m_thread || m_failure_reported) return std::nullopt;
    std::optional<Error> f = m_thread->failure();
    if (f) m_failure_reported = true;
    return f;
}

bool Machine::take_reset_request() {
    if (!m_thread || m_reset_reported) return false;
    if (m_thread->state() != VcpuThread::State::ResetRequested) return false;
    m_reset_reported = true;
    return true;
}

VcpuThread::State Machine::vcpu_state() const {
    return m_thread ? m_thread->state() : VcpuThread::State::Halted;
}

}  // namespace molt::hw
