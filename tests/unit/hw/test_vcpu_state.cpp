// Unit tests of the accelerators' vCPU state (schema X86CpuState): the
// boot state as both report it, and save -> load -> save round trips, on
// real Unicorn and, where /dev/kvm opens, on real KVM (else skipped).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "hw/accel/kvm/kvm_vcpu.h"
#include "hw/accel/tcg/tcg_vcpu.h"
#include "hw_support.h"
#include "qapi-visit-machine.h"
#include "runtime/visit.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

namespace {

void round_trip(Vcpu& cpu) {
    REQUIRE(cpu.set_boot_state(0x100000, 0x80000));
    api::X86CpuState boot = *cpu.save_state();
    CHECK(boot.rip == 0x100000);
    CHECK(boot.rdi == 0x80000);
    CHECK(boot.cs->l);
    api::X86CpuState changed = boot;
    changed.rax = 0x1122334455667788ull;
    changed.r15 = 42;
    changed.rsp = 0x7000;
    changed.rip = 0x100010;
    changed.fs->base = 0x123000;
    REQUIRE(cpu.load_state(changed));
    api::X86CpuState again = *cpu.save_state();
    CHECK(to_json(again) == to_json(changed));
    CHECK(validate(again));
}

}  // namespace

TEST_CASE("tcg vCPU: boot state and state round trip") {
    Ram host;
    GuestMemory ram(host.span());
    Bus pio("pio"), mmio("mmio");
    auto cpu = TcgVcpu::create(ram, pio, mmio, {});
    REQUIRE(cpu);
    round_trip(**cpu);
}

TEST_CASE("kvm vCPU: boot state (long mode) and state round trip" *
          doctest::skip(!kvm_usable())) {
    Ram host;
    GuestMemory ram(host.span());
    Bus pio("pio"), mmio("mmio");
    auto kvm = kvm::Kvm::open();
    REQUIRE(kvm);
    auto vm = kvm->create_vm();
    REQUIRE(vm);
    REQUIRE(vm->set_memory(0, 0, host.size, host.p, 0));
    auto cpu = KvmVcpu::create(*kvm, *vm, ram, pio, mmio);
    REQUIRE(cpu);
    round_trip(**cpu);
    api::X86CpuState s = *(*cpu)->save_state();
    CHECK((s.efer & 0x500) == 0x500);   // LME | LMA
    CHECK((s.cr0 & 0x80000001) == 0x80000001);
}
