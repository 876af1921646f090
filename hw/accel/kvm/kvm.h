// Thin RAII wrappers over the KVM API (hw/accel/kvm): Kvm (/dev/kvm) ->
// VmFd (one VM) -> VcpuFd (one vCPU, with its mmap'ed kvm_run).  Each
// owns its fd; a VcpuFd cannot outlive the VmFd it came from (the caller
// keeps that order, as the Machine does).  Ioctl names per the kernel's
// Documentation/virt/kvm/api.rst; errors keep errno.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::hw::kvm {

class VmFd;
class VcpuFd;

class Kvm {
public:
    // Opens /dev/kvm and checks KVM_GET_API_VERSION == 12.
    static Result<Kvm> open();
    Result<VmFd> create_vm() const;
    // KVM_GET_SUPPORTED_CPUID.
    Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
    int fd() const { return m_fd.get(); }

private:
    explicit Kvm(UniqueFd fd, int mmap_size) : m_fd(std::move(fd)), m_vcpu_mmap_size(mmap_size) {}
    UniqueFd m_fd;
    int m_vcpu_mmap_size;
    friend class VmFd;
};

class VmFd {
public:
    // KVM_SET_USER_MEMORY_REGION (flags: KVM_MEM_LOG_DIRTY_PAGES...).
    Result<void> set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags);
    Result<void> set_tss_addr(uint64_t addr);
    // KVM_GET_DIRTY_LOG: the slot's dirty bits since the last call (one
    // bit per 4 KiB page; `words` 64-bit words), cleared by the kernel.
    Result<std::vector<uint64_t>> dirty_log(uint32_t slot, size_t words) const;
    Result<VcpuFd> create_vcpu(unsigned id) const;
    // The in-kernel PIC, IOAPIC and local APICs (before the first vCPU),
    // and the PIT on IRQ 0.
    Result<void> create_irqchip();
    Result<void> create_pit();
    // KVM_IRQ_LINE: drives a GSI of the in-kernel irqchip (0-15 reach the
    // PIC as well as the IOAPIC); safe from any thread.
    Result<void> set_irq_line(uint32_t gsi, bool level) const;
    int fd() const { return m_fd.get(); }   // for kvm_platform_state

private:
    VmFd(UniqueFd fd, int mmap_size) : m_fd(std::move(fd)), m_vcpu_mmap_size(mmap_size) {}
    UniqueFd m_fd;
    int m_vcpu_mmap_size;
    friend class Kvm;
};

class VcpuFd {
public:
    VcpuFd(VcpuFd&& other) noexcept;
    ~VcpuFd();

    kvm_run* run_area() const { return m_run; }
    // KVM_RUN; EINTR (a kick) is returned as an Error with that errno.
    Result<void> run();
    Result<kvm_regs> regs() const;
    Result<void> set_regs(const kvm_regs& r);
    Result<kvm_sregs> sregs() const;
    Result<void> set_sregs(const kvm_sregs& s);
    Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    int fd() const { return m_fd.get(); }   // for kvm_platform_state

private:
    VcpuFd(UniqueFd fd, kvm_run* run, size_t size) : m_fd(std::move(fd)), m_run(run), m_run_size(size) {}
    UniqueFd m_fd;
    kvm_run* m_run;
    size_t m_run_size;
    friend class VmFd;
};

}  // namespace molt::hw::kvm
