// Kvm, VmFd, VcpuFd; see kvm.h.
#include "hw/accel/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace molt::hw::kvm {

namespace {

// ioctl with EINTR retried, except for KVM_RUN (a kick must return).
template <class Arg>
int xioctl(int fd, unsigned long req, Arg arg) {
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR && req != KVM_RUN);
    return r;
}

// kvm_cpuid2 as the kernel lays it out.  <linux/kvm.h> declares its
// flexible array with __DECLARE_FLEX_ARRAY, whose empty struct has size 1
// in C++: sizeof(kvm_cpuid2) would be 12 and entries at offset 12, both
// wrong.  So the header, the entry offset and the ioctl numbers are ours.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace

Result<Kvm> Kvm::open() {
    UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "Could not access KVM kernel module");
    int version = xioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) return Error("KVM API version " + std::to_string(version) + " is not 12");
    int size = xioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < static_cast<int>(sizeof(kvm_run))) return Error::from_errno(errno, "KVM_GET_VCPU_MMAP_SIZE");
    return Kvm(std::move(fd), size);
}

Result<VmFd> Kvm::create_vm() const {
    UniqueFd vm(xioctl(m_fd.get(), KVM_CREATE_VM, 0));
    if (!vm) return Error::from_errno(errno, "KVM_CREATE_VM");
    return VmFd(std::move(vm), m_vcpu_mmap_size);
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
    constexpr uint32_t kMax = 256;
    std::vector<uint8_t> buf(sizeof(CpuidHeader) + kMax * sizeof(kvm_cpuid_entry2));
    CpuidHeader h{kMax, 0};
    std::memcpy(buf.data(), &h, sizeof(h));
    if (xioctl(m_fd.get(), kGetSupportedCpuid, buf.data()) < 0) {
        return Error::from_errno(errno, "KVM_GET_SUPPORTED_CPUID");
    }
    std::memcpy(&h, buf.data(), sizeof(h));
    if (h.nent > kMax) return Error("KVM_GET_SUPPORTED_CPUID: too many entries");
    std::vector<kvm_cpuid_entry2> out(h.nent);
    std::memcpy(out.data(), buf.data() + sizeof(h), h.nent * sizeof(kvm_cpuid_entry2));
    return out;
}

Result<void> VmFd::set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags) {
    kvm_userspace_memory_region r{};
    r.slot = slot;
    r.flags = flags;
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (xioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        return Error::from_errno(errno, "KVM_SET_USER_MEMORY_REGION");
    }
    return ok();
}

Result<void> VmFd::set_tss_addr(uint64_t addr) {
    if (xioctl(m_fd.get(), KVM_SET_TSS_ADDR, addr) < 0) return Error::from_errno(errno, "KVM_SET_TSS_ADDR");
    return ok();
}

Result<std::vector<uint64_t>> VmFd::dirty_log(uint32_t slot, size_t words) const {
    std::vector<uint64_t> bits(words);
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bits.data();
    if (xioctl(m_fd.get(), KVM_GET_DIRTY_LOG, &log) < 0) return Error::from_errno(errno, "KVM_GET_DIRTY_LOG");
    return bits;
}

Result<void> VmFd::create_irqchip() {
    if (xioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0) < 0) return Error::from_errno(errno, "KVM_CREATE_IRQCHIP");
    return ok();
}

Result<void> VmFd::create_pit() {
    kvm_pit_config config{};
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    if (xioctl(m_fd.get(), KVM_CREATE_PIT2, &config) < 0) return Error::from_errno(errno, "KVM_CREATE_PIT2");
    return ok();
}

Result<void> VmFd::set_irq_line(uint32_t gsi, bool level) const {
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    if (xioctl(m_fd.get(), KVM_IRQ_LINE, &irq) < 0) return Error::from_errno(errno, "KVM_IRQ_LINE");
    return ok();
}

Result<VcpuFd> VmFd::create_vcpu(unsigned id) const {
    UniqueFd fd(xioctl(m_fd.get(), KVM_CREATE_VCPU, id));
    if (!fd) return Error::from_errno(errno, "KVM_CREATE_VCPU");
    size_t size = static_cast<size_t>(m_vcpu_mmap_size);
    void* run = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (run == MAP_FAILED) return Error::from_errno(errno, "mmap kvm_run");
    return VcpuFd(std::move(fd), static_cast<kvm_run*>(run), size);
}

VcpuFd::VcpuFd(VcpuFd&& other) noexcept
    : m_fd(std::move(other.m_fd)), m_run(std::exchange(other.m_run, nullptr)), m_run_size(other.m_run_size) {}

VcpuFd::~VcpuFd() {
    if (m_run) munmap(m_run, m_run_size);
}

Result<void> VcpuFd::run() {
    if (xioctl(m_fd.get(), KVM_RUN, 0) < 0) return Error::from_errno(errno, "KVM_RUN");
    return ok();
}

Result<kvm_regs> VcpuFd::regs() const {
    kvm_regs r{};
    if (xioctl(m_fd.get(), KVM_GET_REGS, &r) < 0) return Error::from_errno(errno, "KVM_GET_REGS");
    return r;
}

Result<void> VcpuFd::set_regs(const kvm_regs& r) {
    if (xioctl(m_fd.get(), KVM_SET_REGS, &r) < 0) return Error::from_errno(errno, "KVM_SET_REGS");
    return ok();
}

Result<kvm_sregs> VcpuFd::sregs() const {
    kvm_sregs s{};
    if (xioctl(m_fd.get(), KVM_GET_SREGS, &s) < 0) return Error::from_errno(errno, "KVM_GET_SREGS");
    return s;
}

Result<void> VcpuFd::set_sregs(const kvm_sregs& s) {
    if (xioctl(m_fd.get(), KVM_SET_SREGS, &s) < 0) return Error::from_errno(errno, "KVM_SET_SREGS");
    return ok();
}

Result<void> VcpuFd::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf(sizeof(CpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
    CpuidHeader h{static_cast<uint32_t>(entries.size()), 0};
    std::memcpy(buf.data(), &h, sizeof(h));
    std::memcpy(buf.data() + sizeof(h), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    if (xioctl(m_fd.get(), kSetCpuid2, buf.data()) < 0) return Error::from_errno(errno, "KVM_SET_CPUID2");
    return ok();
}

}  // namespace molt::hw::kvm
