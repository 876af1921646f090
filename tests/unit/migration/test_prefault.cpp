// Unit tests of the destination's prefaulter (migration/engine/prefault):
// on real anonymous memory, it faults in the window after the data a
// receiver reported and nothing else, never changes what was written, and
// follows a new pass back to the start.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "migration/engine/prefault.h"

using namespace molt::migration;

namespace {

constexpr uint64_t kPage = 4096;

// Anonymous memory that is unmapped afterwards.
struct Region {
    explicit Region(uint64_t bytes) : size(bytes) {
        void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        REQUIRE(p != MAP_FAILED);
        base = static_cast<uint8_t*>(p);
        // 4 KiB pages, so that residency is counted exactly.
        (void)madvise(base, size, MADV_NOHUGEPAGE);
    }
    ~Region() { munmap(base, size); }
    std::span<uint8_t> span() const { return {base, size}; }
    // Resident pages in [from, to).
    uint64_t resident(uint64_t from, uint64_t to) const {
        std::vector<unsigned char> v((to - from) / kPage);
        REQUIRE(mincore(base + from, to - from, v.data()) == 0);
        uint64_t n = 0;
        for (unsigned char c : v) n += c & 1;
        return n;
    }
    uint8_t* base;
    uint64_t size;
};

bool populate_supported() {
    Region r(kPage);
    return madvise(r.base, kPage, 23 /* MADV_POPULATE_WRITE */) == 0;
}

// Waits until the prefaulter has populated `bytes` (or 10 s passed).
void wait_populated(const Prefaulter& p, uint64_t bytes) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (p.populated() < bytes && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace

TEST_CASE("the window after reported data is faulted in, the rest stays untouched") {
    if (!populate_supported()) return;   // Linux < 5.14: it does nothing (documented)
    const uint64_t chunk = Prefaulter::kChunk, ahead = Prefaulter::kAhead;
    Region ram(ahead + 8 * chunk);
    {
        Prefaulter p(ram.span());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(p.populated() == 0);   // no data reported: nothing
        CHECK(ram.resident(0, ram.size) == 0);
        p.wrote(chunk);              // data in the first chunk
        wait_populated(p, ahead);
        CHECK(p.populated() == ahead);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(p.populated() == ahead);   // and no further
    }
    CHECK(ram.resident(chunk, chunk + ahead) == ahead / kPage);
    CHECK(ram.resident(chunk + ahead, ram.size) == 0);
    CHECK(ram.resident(0, chunk) == 0);   // the receiver's own chunk is its own
}

TEST_CASE("what was written stays as written") {
    if (!populate_supported()) return;
    const uint64_t chunk = Prefaulter::kChunk;
    Region ram(16 * chunk);
    for (uint64_t off = 0; off < ram.size; off += kPage) ram.base[off + 7] = static_cast<uint8_t>(off / kPage + 1);
    {
        Prefaulter p(ram.span());
        p.wrote(1);
        wait_populated(p, 15 * chunk);
        CHECK(p.populated() == 15 * chunk);
    }
    for (uint64_t off = 0; off < ram.size; off += kPage) {
        REQUIRE(ram.base[off + 7] == static_cast<uint8_t>(off / kPage + 1));
    }
}

TEST_CASE("it follows the receivers forward and back to a new pass") {
    if (!populate_supported()) return;
    const uint64_t chunk = Prefaulter::kChunk, ahead = Prefaulter::kAhead;
    Region ram(4 * ahead);
    Prefaulter p(ram.span());
    p.wrote(2 * ahead);   // far in: the memory behind is not prefaulted
    wait_populated(p, ahead);
    CHECK(ram.resident(0, 2 * ahead) == 0);
    CHECK(ram.resident(2 * ahead, 3 * ahead) == ahead / kPage);
    p.wrote(chunk);       // a new pass from the start
    wait_populated(p, 2 * ahead);
    CHECK(p.populated() == 2 * ahead);
    CHECK(ram.resident(chunk, chunk + ahead) == ahead / kPage);
}
