// Unit tests of the accelerators' vCPU state (schema X86CpuState): the
// boot state as both report it, and save -> load -> save round trips, on
// real Unicorn and, where /dev/kvm opens, on real KVM (else skipped); a
// pause right after a KVM I/O exit leaves the instruction completed.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
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

namespace {

// Port 0x80: a read gives 0x42, a write is recorded; either asks the vCPU
// to pause while its exit is being handled.
struct PausingPort : BusDevice {
    Vcpu* vcpu = nullptr;
    int written = -1;
    void read(uint64_t, std::span<uint8_t> data) override {
        data[0] = 0x42;
        vcpu->request_pause();
    }
    void write(uint64_t, std::span<const uint8_t> data) override {
        written = data[0];
        vcpu->request_pause();
    }
};

}  // namespace

TEST_CASE("kvm vCPU: a pause during an I/O exit completes the instruction first (state is consistent)" *
          doctest::skip(!kvm_usable())) {
    Ram host;
    GuestMemory ram(host.span());
    // mov dx, 0x80; in al, dx; out dx, al; hlt
    const uint8_t code[] = {0x66, 0xba, 0x80, 0x00, 0xec, 0xee, 0xf4};
    std::memcpy(host.span().data() + 0x100000, code, sizeof(code));
    Bus pio("pio"), mmio("mmio");
    PausingPort port;
    REQUIRE(pio.insert(0x80, 1, &port));
    auto kvm = kvm::Kvm::open();
    REQUIRE(kvm);
    auto vm = kvm->create_vm();
    REQUIRE(vm);
    REQUIRE(vm->set_memory(0, 0, host.size, host.p, 0));
    auto cpu = KvmVcpu::create(*kvm, *vm, ram, pio, mmio);
    REQUIRE(cpu);
    port.vcpu = cpu->get();
    REQUIRE((*cpu)->set_boot_state(0x100000, 0));
    REQUIRE(*(*cpu)->run() == Vcpu::Exit::Paused);
    api::X86CpuState s = *(*cpu)->save_state();
    CHECK(s.rip == 0x100005);           // past the IN
    CHECK((s.rax & 0xff) == 0x42);      // with its data
    (*cpu)->clear_pause();
    REQUIRE(*(*cpu)->run() == Vcpu::Exit::Paused);
    CHECK(port.written == 0x42);
    CHECK((*cpu)->save_state()->rip == 0x100006);   // past the OUT: a load would not repeat it
    (*cpu)->clear_pause();
    CHECK(*(*cpu)->run() == Vcpu::Exit::Halted);
    CHECK(port.written == 0x42);
}
