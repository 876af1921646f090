// The kvm state beyond the architectural registers (hw/accel/kvm): what a
// Linux guest needs to move to another process - the local APIC, the FPU
// and AVX state (XSAVE), XCR0, the MSRs, pending events, the MP state and
// debug registers of the vCPU; the PICs, IOAPIC, PIT and kvmclock of the
// VM.  Saved as KVM's own structures (base64 blobs in the schema's
// KvmState: the kernel's ABI for them is stable) plus lists of MSRs.
//
// Load order follows the dependencies: the APIC base (its mode), XSAVE
// and XCRs, MSRs (the TSC
// deadline last, after the APIC that interprets it), the MP state, the
// APIC, events, debug registers; the VM's chips, PIT and clock.  The
// architectural registers (regs, sregs) are the vCPU's load_state().
// Every call is made with the vCPU paused; an Error names what KVM
// refused.
#pragma once

#include <cstdint>
#include <vector>

#include "qapi-types-machine-state.h"
#include "runtime/result.h"

namespace molt::hw::kvm {

// The MSRs KVM lists as worth saving (KVM_GET_MSR_INDEX_LIST on /dev/kvm).
Result<std::vector<uint32_t>> msrs_to_save(int kvm_fd);

Result<api::KvmVcpuState> save_vcpu_platform(int vcpu_fd, const std::vector<uint32_t>& msrs);
Result<void> load_vcpu_platform(int vcpu_fd, const api::KvmVcpuState& state);

Result<api::KvmVmState> save_vm_platform(int vm_fd);
Result<void> load_vm_platform(int vm_fd, const api::KvmVmState& state);

}  // namespace molt::hw::kvm
