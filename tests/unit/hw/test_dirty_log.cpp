// Unit tests of dirty page tracking through the Machine, on real Unicorn
// and, where /dev/kvm opens, real KVM: a guest writes two pages and
// halts; the log has exactly those (tcg) or at least those (kvm, whose CPU
// also sets accessed/dirty bits in the page tables), plus the VMM's own
// writes through GuestMemory; a second sync is empty of them.  On tcg,
// tracking turned on under a running guest sees the stores of code
// translated before, and turning it on is cheap.
#include <doctest/doctest.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "hw/machine.h"
#include "hw_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

namespace {

// mov byte [0x200000], 1; mov byte [0x203000], 1; hlt
const std::vector<uint8_t> kCode = {0xc6, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x01,
                                    0xc6, 0x04, 0x25, 0x00, 0x30, 0x20, 0x00, 0x01, 0xf4};

std::string write_guest() { return temp_file(make_elf(0x100000, kCode)); }

bool bit(const std::vector<uint64_t>& bits, uint64_t page) {
    return (bits[page / 64] >> (page % 64)) & 1;
}

size_t count(const std::vector<uint64_t>& bits) {
    size_t n = 0;
    for (uint64_t w : bits) n += static_cast<size_t>(__builtin_popcountll(w));
    return n;
}

void check_dirty_log(MachineSetup::Accel accel) {
    constexpr size_t kRam = 4 << 20;
    void* host = mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(host != MAP_FAILED);
    std::string path = write_guest();
    {
        MachineSetup setup;
        setup.accel = accel;
        setup.kernel = path;
        auto m = Machine::create(std::move(setup), {static_cast<uint8_t*>(host), kRam}, [] {});
        REQUIRE(m);
        REQUIRE((*m)->start_dirty_log());
        (*m)->resume();
        // Done when the vCPU sits after the HLT: tcg halts the vCPU thread;
        // with KVM's in-kernel irqchip the HLT waits inside KVM_RUN.
        constexpr uint64_t kDone = 0x100000 + 17;
        bool done = false;
        for (int i = 0; i < 2500 && !done; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            done = (*m)->vcpu_state() == VcpuThread::State::Halted ||
                   (accel == MachineSetup::Accel::Kvm && (*m)->cpu_state()->rip == kDone);
        }
        REQUIRE(done);
        std::vector<uint64_t> bits = *(*m)->sync_dirty_log();
        CHECK(bit(bits, 0x200));
        CHECK(bit(bits, 0x203));
        CHECK_FALSE(bit(bits, 0x201));
        CHECK_FALSE(bit(bits, 0x300));
        if (accel == MachineSetup::Accel::Tcg) CHECK(count(bits) == 2);
        bits = *(*m)->sync_dirty_log();
        CHECK_FALSE(bit(bits, 0x200));
        CHECK_FALSE(bit(bits, 0x203));
        // The VMM's own writes count too (here: a reset reloads the image
        // and the device tree).
        REQUIRE((*m)->reset());
        bits = *(*m)->sync_dirty_log();
        CHECK(bit(bits, 0x100));   // the image at 1 MiB
        CHECK(bit(bits, 0x80));    // the device tree at 512 KiB
        REQUIRE((*m)->stop_dirty_log());
        CHECK_FALSE((*m)->sync_dirty_log());
    }
    unlink(path.c_str());
    munmap(host, kRam);
}

}  // namespace

TEST_CASE("dirty log: tcg write hook and the VMM's writes") {
    check_dirty_log(MachineSetup::Accel::Tcg);
}

TEST_CASE("dirty log: KVM_GET_DIRTY_LOG and the VMM's writes" * doctest::skip(!kvm_usable())) {
    check_dirty_log(MachineSetup::Accel::Kvm);
}

namespace {

// loop: mov byte [0x200000], 1; jmp loop
const std::vector<uint8_t> kStoreLoop = {0xc6, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x01, 0xeb, 0xf6};

uint64_t resident_bytes() {
    uint64_t size = 0, resident = 0;
    std::ifstream("/proc/self/statm") >> size >> resident;
    return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("dirty log on tcg: turned on under a running guest, cheaply") {
    // Regression: turning the write hook on flushed all translated code
    // with uc_ctl_flush_tlb, whose tb_flush clears Unicorn's whole 1 GiB
    // code buffer: 1 GiB more resident memory and ~2 s (the main loop
    // stalled, and with it the guest's network, at every migration's
    // start).  Dropping the translated code of guest RAM is enough.
    constexpr size_t kRam = 4 << 20;
    void* host = mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(host != MAP_FAILED);
    std::string path = temp_file(make_elf(0x100000, kStoreLoop));
    {
        MachineSetup setup;
        setup.accel = MachineSetup::Accel::Tcg;
        setup.kernel = path;
        auto m = Machine::create(std::move(setup), {static_cast<uint8_t*>(host), kRam}, [] {});
        REQUIRE(m);
        (*m)->resume();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));   // the loop is translated
        uint64_t before = resident_bytes();
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE((*m)->start_dirty_log());
        auto took = std::chrono::steady_clock::now() - t0;
        uint64_t grown = resident_bytes() - before;
        CAPTURE(grown);
        CHECK(grown < (64u << 20));
        CHECK(took < std::chrono::milliseconds(500));
        // The loop translated before the hook existed now calls it.
        std::vector<uint64_t> bits;
        for (int i = 0; i < 500 && (bits.empty() || !bit(bits, 0x200)); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            bits = *(*m)->sync_dirty_log();
        }
        CHECK(bit(bits, 0x200));
        (*m)->pause();
        REQUIRE((*m)->stop_dirty_log());
    }
    unlink(path.c_str());
    munmap(host, kRam);
}
