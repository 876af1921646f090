// kvm platform state; see kvm_platform_state.h.
#include "hw/accel/kvm/kvm_platform_state.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "runtime/base64.h"

namespace molt::hw::kvm {

namespace {

api::KvmRegister reg(uint32_t index, uint64_t value) {
    api::KvmRegister r;
    r.index = index;
    r.value = value;
    return r;
}

// <linux/kvm.h> declares kvm_msrs, kvm_msr_list and kvm_xsave with
// flexible arrays, which C++ sizes differently from C (and the ioctl
// numbers encode the size): the headers and numbers here are ours, with
// the kernel's layout.
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
struct MsrListHeader {
    uint32_t nmsrs;
};
struct Xsave {
    uint32_t region[1024];   // the legacy 4 KiB area (no AMX tiles)
};
static_assert(sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4 && sizeof(Xsave) == 4096);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, Xsave);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, Xsave);

constexpr uint32_t kMsrTscDeadline = 0x6e0;

template <class Arg>
Result<void> call(int fd, unsigned long req, Arg* arg, const char* what) {
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return Error::from_errno(errno, what);
    return ok();
}

template <class T>
std::string blob(const T& v) {
    return base64_encode(std::span(reinterpret_cast<const uint8_t*>(&v), sizeof(T)));
}

// The blob `text` into v: exactly sizeof(T) bytes.
template <class T>
Result<void> unblob(const std::string& text, T& v, const char* what) {
    Result<std::vector<uint8_t>> bytes = base64_decode(text);
    if (!bytes) return Error(bytes.error()).with_context(what);
    if (bytes->size() != sizeof(T)) {
        return Error(std::string(what) + ": " + std::to_string(bytes->size()) + " bytes, KVM's is " +
                     std::to_string(sizeof(T)));
    }
    std::memcpy(&v, bytes->data(), sizeof(T));
    return ok();
}

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%x", v);
    return buf;
}

// KVM_GET_MSRS / KVM_SET_MSRS on a batch: the number of entries done (KVM
// stops at the first it refuses), or -1 with errno.
int msr_batch(int vcpu_fd, unsigned long req, std::vector<kvm_msr_entry>& entries, size_t from) {
    std::vector<uint8_t> buf(sizeof(MsrsHeader) + (entries.size() - from) * sizeof(kvm_msr_entry));
    MsrsHeader h{static_cast<uint32_t>(entries.size() - from), 0};
    std::memcpy(buf.data(), &h, sizeof(h));
    std::memcpy(buf.data() + sizeof(h), entries.data() + from, (entries.size() - from) * sizeof(kvm_msr_entry));
    int r = ioctl(vcpu_fd, req, buf.data());
    if (r > 0) std::memcpy(entries.data() + from, buf.data() + sizeof(h), static_cast<size_t>(r) * sizeof(kvm_msr_entry));
    return r;
}

// Reads every MSR of the list in as few calls as KVM allows; the ones it
// does not read for this vCPU are left out.
Result<std::vector<kvm_msr_entry>> get_msrs(int vcpu_fd, const std::vector<uint32_t>& list) {
    std::vector<kvm_msr_entry> entries;
    for (uint32_t index : list) entries.push_back({index, 0, 0});
    std::vector<kvm_msr_entry> out;
    size_t at = 0;
    while (at < entries.size()) {
        int r = msr_batch(vcpu_fd, kGetMsrs, entries, at);
        if (r < 0) return Error::from_errno(errno, "KVM_GET_MSRS");
        for (size_t i = at; i < at + static_cast<size_t>(r); ++i) out.push_back(entries[i]);
        at += static_cast<size_t>(r) + 1;   // skip the one it refused
    }
    return out;
}

Result<void> set_msrs(int vcpu_fd, std::vector<kvm_msr_entry> entries) {
    if (entries.empty()) return ok();
    int r = msr_batch(vcpu_fd, kSetMsrs, entries, 0);
    if (r < 0) return Error::from_errno(errno, "KVM_SET_MSRS");
    if (static_cast<size_t>(r) < entries.size()) {
        return Error("KVM_SET_MSRS: KVM refused MSR " + hex(entries[static_cast<size_t>(r)].index) + " = " +
                     std::to_string(entries[static_cast<size_t>(r)].data));
    }
    return ok();
}

}  // namespace

Result<std::vector<uint32_t>> msrs_to_save(int kvm_fd) {
    constexpr uint32_t kMax = 1024;
    std::vector<uint32_t> buf(1 + kMax);
    buf[0] = kMax;
    MOLT_TRY(call(kvm_fd, kGetMsrIndexList, buf.data(), "KVM_GET_MSR_INDEX_LIST"));
    return std::vector<uint32_t>(buf.begin() + 1, buf.begin() + 1 + buf[0]);
}

Result<api::KvmVcpuState> save_vcpu_platform(int vcpu_fd, const std::vector<uint32_t>& msrs) {
    api::KvmVcpuState s{};
    kvm_sregs sregs{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
    s.sregs = blob(sregs);
    kvm_lapic_state lapic{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC"));
    s.lapic = blob(lapic);
    Xsave xsave{};
    MOLT_TRY(call(vcpu_fd, kGetXsave, &xsave, "KVM_GET_XSAVE"));
    s.xsave = blob(xsave);
    kvm_xcrs xcrs{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS"));
    for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; ++i) {
        s.xcrs.push_back(reg(xcrs.xcrs[i].xcr, xcrs.xcrs[i].value));
    }
    Result<std::vector<kvm_msr_entry>> got = get_msrs(vcpu_fd, msrs);
    if (!got) return got.error();
    for (const kvm_msr_entry& e : *got) s.msrs.push_back(reg(e.index, e.data));
    kvm_vcpu_events events{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS"));
    s.events = blob(events);
    kvm_mp_state mp{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE"));
    s.mp_state = mp.mp_state;
    kvm_debugregs dr{};
    MOLT_TRY(call(vcpu_fd, KVM_GET_DEBUGREGS, &dr, "KVM_GET_DEBUGREGS"));
    s.debugregs = blob(dr);
    return s;
}

Result<void> load_vcpu_platform(int vcpu_fd, const api::KvmVcpuState& s) {
    // Everything decoded and checked before KVM is told anything.
    kvm_sregs sregs{};
    kvm_lapic_state lapic{};
    Xsave xsave{};
    kvm_vcpu_events events{};
    kvm_debugregs dr{};
    MOLT_TRY(unblob(s.sregs, sregs, "sregs"));
    MOLT_TRY(unblob(s.lapic, lapic, "lapic"));
    MOLT_TRY(unblob(s.xsave, xsave, "xsave"));
    MOLT_TRY(unblob(s.events, events, "events"));
    MOLT_TRY(unblob(s.debugregs, dr, "debugregs"));
    if (s.xcrs.size() > KVM_MAX_XCRS) return Error("xcrs: more than " + std::to_string(KVM_MAX_XCRS));
    kvm_xcrs xcrs{};
    xcrs.nr_xcrs = static_cast<uint32_t>(s.xcrs.size());
    for (size_t i = 0; i < s.xcrs.size(); ++i) xcrs.xcrs[i] = {s.xcrs[i].index, 0, s.xcrs[i].value};

    // All special registers (TR, LDT, CR8, the APIC's mode: x2APIC turns
    // its registers into MSRs) before anything that depends on them.
    MOLT_TRY(call(vcpu_fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS"));
    MOLT_TRY(call(vcpu_fd, kSetXsave, &xsave, "KVM_SET_XSAVE"));
    MOLT_TRY(call(vcpu_fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS"));
    std::vector<kvm_msr_entry> msrs, deadline;
    for (const api::KvmRegister& m : s.msrs) {
        (m.index == kMsrTscDeadline ? deadline : msrs).push_back({m.index, 0, m.value});
    }
    MOLT_TRY(set_msrs(vcpu_fd, std::move(msrs)));
    kvm_mp_state mp{s.mp_state};
    MOLT_TRY(call(vcpu_fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE"));
    MOLT_TRY(call(vcpu_fd, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC"));
    MOLT_TRY(set_msrs(vcpu_fd, std::move(deadline)));   // after the APIC
    MOLT_TRY(call(vcpu_fd, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS"));
    return call(vcpu_fd, KVM_SET_DEBUGREGS, &dr, "KVM_SET_DEBUGREGS");
}

Result<api::KvmVmState> save_vm_platform(int vm_fd) {
    api::KvmVmState s{};
    std::string* chips[] = {&s.pic_master, &s.pic_slave, &s.ioapic};
    for (uint32_t id = 0; id < 3; ++id) {
        kvm_irqchip chip{};
        chip.chip_id = id;
        MOLT_TRY(call(vm_fd, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP"));
        *chips[id] = blob(chip);
    }
    kvm_pit_state2 pit{};
    MOLT_TRY(call(vm_fd, KVM_GET_PIT2, &pit, "KVM_GET_PIT2"));
    s.pit = blob(pit);
    kvm_clock_data clock{};
    MOLT_TRY(call(vm_fd, KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK"));
    s.clock = clock.clock;
    return s;
}

Result<void> load_vm_platform(int vm_fd, const api::KvmVmState& s) {
    kvm_irqchip chips[3]{};
    const std::string* texts[] = {&s.pic_master, &s.pic_slave, &s.ioapic};
    const char* names[] = {"pic-master", "pic-slave", "ioapic"};
    for (uint32_t id = 0; id < 3; ++id) {
        MOLT_TRY(unblob(*texts[id], chips[id], names[id]));
        if (chips[id].chip_id != id) return Error(std::string(names[id]) + ": the blob is another chip's");
    }
    kvm_pit_state2 pit{};
    MOLT_TRY(unblob(s.pit, pit, "pit"));
    for (kvm_irqchip& chip : chips) MOLT_TRY(call(vm_fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP"));
    MOLT_TRY(call(vm_fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2"));
    kvm_clock_data clock{};
    clock.clock = s.clock;
    return call(vm_fd, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
}

}  // namespace molt::hw::kvm
