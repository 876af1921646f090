// Unit tests of GuestMemory's RAM layout (hw/memory): low RAM from 0,
// high RAM from 4 GiB, one backend mapping behind both; translation both
// ways, accesses in either window, errors for the hole and beyond, the
// VMM's writes marked in the dirty bitmap by host offset; and the
// bitmap's merge of a log that starts at some page (a KVM memory slot).
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "hw/memory/guest_memory.h"

using namespace molt;
using namespace molt::hw;

namespace {

constexpr uint64_t kHigh = GuestMemory::kHighBase;

bool bit(const std::vector<uint64_t>& bits, uint64_t page) {
    return (bits[page / 64] >> (page % 64)) & 1;
}

}  // namespace

TEST_CASE("GuestMemory: RAM past the low limit is at 4 GiB") {
    std::vector<uint8_t> host(6 * 4096);
    std::iota(host.begin(), host.end(), uint8_t{0});
    GuestMemory ram(host, 2 * 4096);
    CHECK(ram.size_bytes() == 6 * 4096);
    CHECK(ram.low_bytes() == 2 * 4096);
    CHECK(ram.high_bytes() == 4 * 4096);
    CHECK(ram.gpa_end() == kHigh + 4 * 4096);
    REQUIRE(ram.regions().size() == 2);
    CHECK(ram.regions()[1].gpa == kHigh);
    CHECK(ram.regions()[1].host_offset == 2 * 4096);

    CHECK(*ram.host_offset(0) == 0);
    CHECK(*ram.host_offset(2 * 4096 - 1) == 2 * 4096 - 1);
    CHECK(*ram.host_offset(kHigh) == 2 * 4096);
    CHECK(*ram.host_offset(kHigh + 4 * 4096 - 1) == 6 * 4096 - 1);
    CHECK_FALSE(ram.host_offset(2 * 4096));          // the hole
    CHECK_FALSE(ram.host_offset(kHigh - 1));
    CHECK_FALSE(ram.host_offset(kHigh + 4 * 4096));  // beyond RAM
    CHECK(*ram.gpa_of(4096) == 4096);
    CHECK(*ram.gpa_of(2 * 4096) == kHigh);
    CHECK(*ram.gpa_of(6 * 4096 - 1) == kHigh + 4 * 4096 - 1);
    CHECK_FALSE(ram.gpa_of(6 * 4096));

    // Reads and writes reach the backend at the translated offset.
    uint8_t buf[4];
    REQUIRE(ram.read(kHigh + 8, buf));
    CHECK(buf[0] == static_cast<uint8_t>(2 * 4096 + 8));
    const uint8_t data[4] = {0xde, 0xad, 0xbe, 0xef};
    REQUIRE(ram.write(kHigh + 4096, data));
    CHECK(std::memcmp(host.data() + 3 * 4096, data, 4) == 0);
    REQUIRE(ram.fill(kHigh + 4 * 4096 - 16, 16, 0x77));
    CHECK(host[6 * 4096 - 1] == 0x77);
    CHECK(*ram.read_obj<uint32_t>(kHigh + 4096) == 0xefbeadde);
}

TEST_CASE("GuestMemory: the hole and beyond are errors, nothing copied") {
    std::vector<uint8_t> host(4 * 4096, 0x11);
    GuestMemory ram(host, 2 * 4096);
    uint8_t buf[8] = {};
    CHECK(ram.contains(2 * 4096 - 8, 8));
    CHECK_FALSE(ram.contains(2 * 4096 - 4, 8));   // runs into the hole
    CHECK_FALSE(ram.contains(2 * 4096, 1));
    CHECK_FALSE(ram.contains(kHigh - 4, 8));      // from the hole into high RAM
    CHECK(ram.contains(kHigh, 2 * 4096));
    CHECK_FALSE(ram.contains(kHigh, 2 * 4096 + 1));
    CHECK_FALSE(ram.contains(~0ull - 2, 4));
    auto r = ram.read(0x10000, buf);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "guest address range 0x10000+0x8 is outside RAM");
    CHECK_FALSE(ram.write(2 * 4096 - 4, buf));
    CHECK(host[2 * 4096 - 4] == 0x11);            // not half-written
    CHECK_FALSE(ram.fill(kHigh + 2 * 4096 - 4, 8, 0));
    CHECK(host[4 * 4096 - 1] == 0x11);
}

TEST_CASE("GuestMemory: small RAM is one window; the windows touch at a 4 GiB low limit") {
    std::vector<uint8_t> small(4096);
    GuestMemory one(small, 2 * 4096);
    CHECK(one.regions().size() == 1);
    CHECK(one.high_bytes() == 0);
    CHECK_FALSE(one.contains(kHigh, 1));

    // A reservation is enough: only the pages touched become memory.
    constexpr size_t kSize = kHigh + 2 * 4096;
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(p != MAP_FAILED);
    auto* host = static_cast<uint8_t*>(p);
    GuestMemory ram({host, kSize});   // the default low limit: 4 GiB
    REQUIRE(ram.regions().size() == 2);
    const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    REQUIRE(ram.write(kHigh - 4, data));       // across the windows' seam
    CHECK(std::memcmp(host + kHigh - 4, data, 8) == 0);
    uint8_t back[8] = {};
    REQUIRE(ram.read(kHigh - 4, back));
    CHECK(std::memcmp(back, data, 8) == 0);
    munmap(p, kSize);
}

TEST_CASE("GuestMemory: the VMM's writes mark pages by host offset") {
    std::vector<uint8_t> host(8 * 4096);
    GuestMemory ram(host, 4 * 4096);
    DirtyBitmap dirty(host.size());
    ram.set_dirty_bitmap(&dirty);
    const uint8_t one[1] = {1};
    REQUIRE(ram.write(4096, one));
    REQUIRE(ram.write(kHigh + 2 * 4096, one));
    REQUIRE(ram.fill(kHigh + 3 * 4096 - 1, 2, 0));
    CHECK_FALSE(ram.write(5 * 4096, one));   // the hole: nothing marked
    std::vector<uint64_t> bits = dirty.take();
    CHECK(bits[0] == ((1u << 1) | (1u << 6) | (1u << 7)));
    ram.set_dirty_bitmap(nullptr);
}

TEST_CASE("DirtyBitmap: merge at a first page, aligned or not") {
    DirtyBitmap dirty(300 * 4096);
    std::vector<uint64_t> log = {0x5, 0x1ull << 63};   // pages 0, 2 and 127 of the log
    dirty.merge(log, 128);
    dirty.merge(log, 3);
    dirty.merge(std::vector<uint64_t>{0x1}, 299);
    dirty.merge(std::vector<uint64_t>{0x2}, 299);       // page 300: beyond, ignored
    std::vector<uint64_t> bits = dirty.take();
    for (uint64_t p : std::initializer_list<uint64_t>{128, 130, 255, 3, 5, 130, 299}) CHECK(bit(bits, p));
    size_t n = 0;
    for (uint64_t w : bits) n += static_cast<size_t>(__builtin_popcountll(w));
    CHECK(n == 6);
}
