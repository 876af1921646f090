// Machine; see machine.h.  The wiring: RAM at guest-physical 0, COM1 on
// the port bus, the vCPU.
#include "hw/machine.h"

#include "hw/boot/elf_loader.h"
#include "hw/boot/fdt.h"
#include "hw/accel/kvm/kvm_vcpu.h"
#include "hw/accel/tcg/tcg_vcpu.h"

namespace molt::hw {

Machine::Machine(MachineSetup setup, std::span<uint8_t> ram)
    : m_setup(std::move(setup)), m_ram(ram), m_serial(std::move(m_setup.serial_out)) {}

Machine::~Machine() {
    m_thread.reset();   // joins before the vCPU and the devices go
}

Result<std::unique_ptr<Machine>> Machine::create(MachineSetup setup, std::span<uint8_t> ram,
                                                 std::function<void()> notify) {
    std::unique_ptr<Machine> m(new Machine(std::move(setup), ram));
    MOLT_TRY(m->m_pio.insert(Serial16550::kCom1Base, Serial16550::kRegisterCount, &m->m_serial));
    FdtDescription desc{m->m_ram.size_bytes(), m->m_setup.bootargs,
                        static_cast<uint32_t>(Serial16550::kCom1Base), {}};
    if (m->m_ram.size_bytes() > kVirtioBase) {
        return Error("-m: guest RAM above 3.25 GiB would overlap the virtio-mmio windows");
    }
    for (size_t i = 0; i < m->m_setup.nets.size(); ++i) {
        NetSetup& n = m->m_setup.nets[i];
        auto* net = new virtio::Net(std::move(n.tap), n.mac);
        net->set_wake(notify);
        auto transport = std::make_unique<virtio::MmioTransport>(std::unique_ptr<virtio::Device>(net),
                                                                 m->m_ram);
        uint64_t base = kVirtioBase + i * kVirtioStride;
        MOLT_TRY(m->m_mmio.insert(base, virtio::MmioTransport::kWindowBytes, transport.get()));
        m->m_nets.push_back({net, std::move(transport)});
        desc.virtio_mmio.push_back(base);
    }
    m->m_fdt = MOLT_TRY(build_fdt(desc));
    if (!m->m_setup.kernel) return m;
    MOLT_TRY(m->create_vcpu());
    Result<void> r = m->load_guest();
    if (!r) return Error(r.error()).with_context("-kernel");
    m->m_thread = std::make_unique<VcpuThread>(*m->m_vcpu, std::move(notify));
    return m;
}

Result<void> Machine::create_vcpu() {
    if (m_setup.accel == MachineSetup::Accel::Tcg) {
        std::vector<TcgVcpu::Window> windows;
        for (size_t i = 0; i < m_nets.size(); ++i) {
            windows.push_back({kVirtioBase + i * kVirtioStride, kVirtioStride});
        }
        m_vcpu = MOLT_TRY(TcgVcpu::create(m_ram, m_pio, m_mmio, windows));
        return ok();
    }
    Result<kvm::Kvm> k = kvm::Kvm::open();
    if (!k) return Error(k.error()).with_context("-accel kvm");
    m_kvm = std::make_unique<kvm::Kvm>(std::move(*k));
    m_vm = std::make_unique<kvm::VmFd>(MOLT_TRY(m_kvm->create_vm()));
    // Intel VMX needs three pages for the real-mode TSS; just below 4 GiB.
    MOLT_TRY(m_vm->set_tss_addr(0xfffbd000));
    std::span<uint8_t> host = m_ram.host_mapping();
    MOLT_TRY(m_vm->set_memory(0, 0, host.size(), host.data(), 0));
    Result<std::unique_ptr<KvmVcpu>> v = KvmVcpu::create(*m_kvm, *m_vm, m_ram, m_pio, m_mmio);
    if (!v) return v.error();
    m_vcpu = std::move(*v);
    return ok();
}

Result<void> Machine::load_guest() {
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

void Machine::resume() {
    if (m_thread) m_thread->resume();
}

void Machine::pause() {
    if (m_thread) m_thread->pause();
}

Result<void> Machine::reset() {
    m_serial.reset();
    if (!m_thread) return ok();
    m_thread->rearm();
    m_failure_reported = false;
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

Result<void> Machine::start_dirty_log() {
    if (m_dirty) return Error("dirty page tracking is already on");
    auto bitmap = std::make_unique<DirtyBitmap>(m_ram.size_bytes());
    std::span<uint8_t> host = m_ram.host_mapping();
    if (m_vm) MOLT_TRY(m_vm->set_memory(0, 0, host.size(), host.data(), KVM_MEM_LOG_DIRTY_PAGES));
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
    if (!m_dirty) return Error("dirty page tracking is off");
    std::vector<uint64_t> bits = m_dirty->take();
    if (m_vm) {
        std::vector<uint64_t> kvm_bits = MOLT_TRY(m_vm->dirty_log(0, bits.size()));
        for (size_t i = 0; i < bits.size(); ++i) bits[i] |= kvm_bits[i];
    }
    return bits;
}

Result<void> Machine::stop_dirty_log() {
    if (!m_dirty) return ok();
    m_ram.set_dirty_bitmap(nullptr);
    if (m_vcpu) {
        bool was_running = pause_for_access();
        Result<void> r = m_vcpu->set_dirty_bitmap(nullptr);
        resume_after_access(was_running);
        MOLT_TRY(r);
    }
    std::span<uint8_t> host = m_ram.host_mapping();
    if (m_vm) MOLT_TRY(m_vm->set_memory(0, 0, host.size(), host.data(), 0));
    m_dirty.reset();
    return ok();
}

std::optional<Error> Machine::take_failure() {
    if (!m_thread || m_failure_reported) return std::nullopt;
    std::optional<Error> f = m_thread->failure();
    if (f) m_failure_reported = true;
    return f;
}

VcpuThread::State Machine::vcpu_state() const {
    return m_thread ? m_thread->state() : VcpuThread::State::Halted;
}

}  // namespace molt::hw
