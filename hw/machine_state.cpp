// The machine's state for migration and snapshots (schema MachineState,
// STYLE.md 6); see machine.h.  Load order: check every part, then the
// vCPU (the one step that can still fail, undone if it does), then the
// devices (checked, so they cannot fail), each re-driving its interrupt
// line; a virtio transport before its device model, whose state its load
// resets.
#include <algorithm>
#include <string>

#include "hw/machine.h"

#include "hw/accel/kvm/kvm_platform_state.h"
#include "hw/accel/kvm/kvm_vcpu.h"

namespace molt::hw {

namespace {

std::string net_name(const std::string& id) { return "virtio-net '" + id + "'"; }

}  // namespace

const Machine::NetDevice* Machine::find_net(const std::string& id) const {
    for (const NetDevice& n : m_nets) {
        if (n.id == id) return &n;
    }
    return nullptr;
}

Result<void> Machine::announce_self(const std::vector<std::string>& only) {
    for (const NetDevice& n : m_nets) {
        if (!only.empty() && std::find(only.begin(), only.end(), n.id) == only.end()) continue;
        Result<void> r = n.transport->with_device_lock([&n] { return n.net->announce(); });
        if (!r) return Error(r.error()).with_context(net_name(n.id));
    }
    return ok();
}

Result<api::MachineState> Machine::save_state() {
    if (m_running) return Error("the machine is running: pause it before saving its state");
    api::MachineState s;
    if (m_vcpu) {
        Result<api::X86CpuState> cpu = m_vcpu->save_state();
        if (!cpu) return Error(cpu.error()).with_context("vCPU 0");
        s.cpu = std::move(*cpu);
    }
    if (m_vcpu && m_setup.accel == MachineSetup::Accel::Kvm) {
        Result<api::KvmState> k = save_kvm_state();
        if (!k) return Error(k.error()).with_context("kvm");
        s.kvm = std::move(*k);
    }
    *s.serial = m_serial.save();
    for (const NetDevice& n : m_nets) {
        api::VirtioNetDeviceState d;
        d.id = n.id;
        *d.transport = n.transport->save();
        *d.net = n.transport->with_device_lock([&] { return n.net->save(); });
        s.nets.push_back(std::move(d));
    }
    return s;
}

Result<api::MachineState> Machine::query_state() {
    bool was_running = m_running;
    if (was_running) pause();
    Result<api::MachineState> s = save_state();
    if (was_running) resume();
    return s;
}

Result<void> Machine::check_state(const api::MachineState& s) const {
    if (!s.cpu && m_vcpu) {
        return Error("the state has no vCPU (it was saved without a guest), this machine runs one");
    }
    bool kvm = m_setup.accel == MachineSetup::Accel::Kvm;
    if (s.cpu && kvm && !s.kvm) {
        return Error("the state has no kvm part (interrupt controllers, timers, MSRs, FPU): it was "
                     "saved on tcg; this machine runs on kvm");
    }
    if (s.kvm && !kvm) {
        return Error("the state holds kvm's in-kernel device and vCPU state: load it with -accel kvm");
    }
    MOLT_TRY(Serial16550::check_state(*s.serial));
    for (size_t i = 0; i < s.nets.size(); ++i) {
        const api::VirtioNetDeviceState& d = s.nets[i];
        const NetDevice* n = find_net(d.id);
        if (!n) return Error(net_name(d.id) + ": in the state, but this machine has no such device");
        for (size_t j = 0; j < i; ++j) {
            if (s.nets[j].id == d.id) return Error(net_name(d.id) + ": twice in the state");
        }
        Result<void> r = n->transport->check_state(*d.transport);
        if (r) r = n->transport->with_device_lock([&] { return n->net->check_state(*d.net); });
        if (!r) return Error(r.error()).with_context(net_name(d.id));
    }
    for (const NetDevice& n : m_nets) {
        bool saved = false;
        for (const api::VirtioNetDeviceState& d : s.nets) saved = saved || d.id == n.id;
        if (!saved) return Error(net_name(n.id) + ": not in the state");
    }
    return ok();
}

Result<api::KvmState> Machine::save_kvm_state() {
    if (m_kvm_msrs.empty()) {
        Result<std::vector<uint32_t>> list = kvm::msrs_to_save(m_kvm->fd());
        if (!list) return list.error();
        m_kvm_msrs = std::move(*list);
    }
    api::KvmState k{};
    auto& vcpu = static_cast<KvmVcpu&>(*m_vcpu);
    Result<api::KvmVcpuState> v = kvm::save_vcpu_platform(vcpu.vcpu_fd(), m_kvm_msrs);
    if (!v) return v.error();
    *k.vcpu = std::move(*v);
    Result<api::KvmVmState> vm = kvm::save_vm_platform(m_vm->fd());
    if (!vm) return vm.error();
    *k.vm = std::move(*vm);
    return k;
}

Result<void> Machine::load_kvm_state(const api::KvmState& k) {
    auto& vcpu = static_cast<KvmVcpu&>(*m_vcpu);
    MOLT_TRY(kvm::load_vcpu_platform(vcpu.vcpu_fd(), *k.vcpu));
    return kvm::load_vm_platform(m_vm->fd(), *k.vm);
}

Result<void> Machine::load_cpu(const api::X86CpuState& cpu) {
    bool created = !m_vcpu;
    std::optional<api::X86CpuState> old;
    if (created) {
        Result<void> r = create_vcpu();
        if (!r) {
            destroy_vcpu();
            return Error(r.error()).with_context("vCPU 0");
        }
    } else {
        Result<api::X86CpuState> st = m_vcpu->save_state();
        if (!st) return Error(st.error()).with_context("vCPU 0");
        old = std::move(*st);
    }
    Result<void> r = m_vcpu->load_state(cpu);
    if (!r) {
        // KVM may have taken the segments and refused the registers.
        if (created) {
            destroy_vcpu();
        } else {
            (void)m_vcpu->load_state(*old);
        }
        return Error(r.error()).with_context("vCPU 0");
    }
    // RAM changed under the vCPU (tcg's translated code is stale).
    for (const GuestMemory::Region& reg : m_ram.regions()) {
        m_vcpu->invalidate(reg.gpa, reg.gpa + reg.size_bytes);
    }
    if (created) {
        m_thread = std::make_unique<VcpuThread>(*m_vcpu, m_notify);
    } else {
        m_thread->rearm();   // a halt or fault before the load is forgotten
    }
    m_failure_reported = false;
    return ok();
}

Result<void> Machine::load_state(const api::MachineState& s) {
    if (m_running) return Error("the machine is running: pause it before loading a state");
    MOLT_TRY(check_state(s));
    if (s.cpu) MOLT_TRY(load_cpu(**s.cpu));
    if (s.kvm) {
        // (After the registers: XCR0 needs CR4.OSXSAVE, the APIC its base.)
        Result<void> r = load_kvm_state(**s.kvm);
        if (!r) return Error(r.error()).with_context("kvm");
    }
    MOLT_ASSERT(m_serial.load(*s.serial));
    for (const api::VirtioNetDeviceState& d : s.nets) {
        const NetDevice* n = find_net(d.id);
        MOLT_ASSERT(n->transport->load(*d.transport));
        MOLT_ASSERT(n->transport->with_device_lock([&] { return n->net->load(*d.net); }));
    }
    // The main loop looks at the devices again (kicks to serve, a
    // waiting frame); they run once the machine resumes.
    if (m_notify) m_notify();
    return ok();
}

}  // namespace molt::hw
