// Unit tests of a Machine with RAM above 4 GiB, on real Unicorn and, where
// /dev/kvm opens, real KVM (two memory slots, identity page tables that
// reach past 4 GiB): the device tree lists both RAM windows; a guest store
// above 4 GiB lands in the backend right after low RAM and is logged at
// that host offset; sizes the machine cannot lay out are refused clearly.
// The RAM is a reservation (MAP_NORESERVE): only touched pages cost.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

extern "C" {
#include <libfdt.h>
}

#include "hw/machine.h"
#include "hw_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

namespace {

constexpr uint64_t kHigh = GuestMemory::kHighBase;
constexpr uint64_t kHighRam = 4 << 20;

// movabs rax, 0x100001000; mov byte [rax], 0x42; mov byte [0x200000], 1; hlt
const std::vector<uint8_t> kCode = {0x48, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                    0xc6, 0x00, 0x42,
                                    0xc6, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x01, 0xf4};

bool bit(const std::vector<uint64_t>& bits, uint64_t page) {
    return (bits[page / 64] >> (page % 64)) & 1;
}

struct Reservation {
    size_t size;
    void* p;
    explicit Reservation(size_t s)
        : size(s), p(mmap(nullptr, s, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) {
        REQUIRE(p != MAP_FAILED);
    }
    ~Reservation() { munmap(p, size); }
    uint8_t* bytes() const { return static_cast<uint8_t*>(p); }
    std::span<uint8_t> span() const { return {bytes(), size}; }
};

// The /memory reg of the machine's device tree, as (address, size) pairs.
std::vector<uint64_t> memory_reg(const std::vector<uint8_t>& fdt) {
    int node = fdt_path_offset(fdt.data(), "/memory@0");
    REQUIRE(node >= 0);
    int len = 0;
    const auto* reg = static_cast<const uint8_t*>(fdt_getprop(fdt.data(), node, "reg", &len));
    REQUIRE(reg != nullptr);
    std::vector<uint64_t> out;
    // Properties are only 4-byte aligned: each cell is read by copying.
    for (int i = 0; i < len / 8; ++i) {
        fdt64_t cell;
        std::memcpy(&cell, reg + 8 * i, sizeof(cell));
        out.push_back(fdt64_to_cpu(cell));
    }
    return out;
}

void check_high_ram(MachineSetup::Accel accel) {
    Reservation ram(kLowRamLimit + kHighRam);
    std::string path = temp_file(make_elf(0x100000, kCode));
    {
        MachineSetup setup;
        setup.accel = accel;
        setup.kernel = path;
        auto m = Machine::create(std::move(setup), ram.span(), [] {});
        REQUIRE(m);
        CHECK(memory_reg((*m)->fdt()) == std::vector<uint64_t>{0, kLowRamLimit, kHigh, kHighRam});
        CHECK((*m)->ram_bytes() == kLowRamLimit + kHighRam);
        REQUIRE((*m)->start_dirty_log());
        (*m)->resume();
        constexpr uint64_t kDone = 0x100000 + 22;
        bool done = false;
        for (int i = 0; i < 2500 && !done; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            done = (*m)->vcpu_state() == VcpuThread::State::Halted ||
                   (accel == MachineSetup::Accel::Kvm && (*m)->cpu_state()->rip == kDone);
        }
        REQUIRE(done);
        REQUIRE_FALSE((*m)->take_failure());
        // Guest-physical 4 GiB + 4 KiB is backend offset 3.25 GiB + 4 KiB.
        CHECK(ram.bytes()[kLowRamLimit + 0x1000] == 0x42);
        CHECK(*(*m)->ram().read_obj<uint8_t>(kHigh + 0x1000) == 0x42);
        std::vector<uint64_t> bits = *(*m)->sync_dirty_log();
        CHECK(bit(bits, (kLowRamLimit + 0x1000) / 4096));
        CHECK(bit(bits, 0x200));
        if (accel == MachineSetup::Accel::Tcg) {
            size_t n = 0;
            for (uint64_t w : bits) n += static_cast<size_t>(__builtin_popcountll(w));
            CHECK(n == 2);
        }
        (*m)->pause();
        REQUIRE((*m)->stop_dirty_log());
    }
    unlink(path.c_str());
}

}  // namespace

TEST_CASE("high RAM: tcg maps both windows and logs by host offset") {
    check_high_ram(MachineSetup::Accel::Tcg);
}

TEST_CASE("high RAM: kvm memory slots 0 and 1, page tables past 4 GiB" *
          doctest::skip(!kvm_usable())) {
    check_high_ram(MachineSetup::Accel::Kvm);
}

TEST_CASE("high RAM: sizes the layout cannot hold are refused") {
    // Low RAM 3.25 GiB + high RAM reaching past 1 TiB.
    Reservation ram(kMaxGuestPhysical - kHigh + kLowRamLimit + 4096);
    auto m = Machine::create(MachineSetup{}, ram.span(), [] {});
    REQUIRE_FALSE(m);
    CHECK(m.error().message().find("above the 1 TiB guest-physical limit") != std::string::npos);
    Reservation odd(kLowRamLimit + 4096);
    auto m2 = Machine::create(MachineSetup{}, odd.span().first(kLowRamLimit + 100), [] {});
    REQUIRE_FALSE(m2);
    CHECK(m2.error().message() == "-m: guest RAM size must be a multiple of 4 KiB");
}
