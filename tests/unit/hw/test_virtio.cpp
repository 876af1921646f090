// Unit tests of the virtio layer (hw/virtio): the split virtqueue and the
// virtio-mmio transport, driven the way a guest driver drives them, on a
// fake guest memory with a queue builder.  Malformed descriptors of every
// kind must put the device in NEEDS_RESET - never crash, never touch
// memory outside RAM - and a reset must bring it back.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "hw/virtio/mmio.h"
#include "virtio_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::virtio;
using namespace molt::hw::virtio::test;

using Fixture = UpperFixture;

TEST_CASE_FIXTURE(Fixture, "virtio-mmio: identity registers; 32-bit access only") {
    CHECK(rd(0x000) == 0x74726976);
    CHECK(rd(0x004) == 2);
    CHECK(rd(0x008) == 0x7e);
    wr(0x014, 1);
    CHECK(rd(0x010) == 1);   // VERSION_1 is bit 32
    wr(0x014, 0);
    CHECK(rd(0x010) == 1);
    uint16_t half = 0xffff;
    mmio.read(0x000, std::span(reinterpret_cast<uint8_t*>(&half), 2));
    CHECK(half == 0);
    uint8_t cfg[2];
    mmio.read(0x101, cfg);
    CHECK(cfg[0] == 0xa1);
    CHECK(rd(0x034) == kSize);
    wr(0x030, 5);
    CHECK(rd(0x034) == 0);   // no such queue
}

TEST_CASE_FIXTURE(Fixture, "virtio-mmio: a chain goes through and comes back used") {
    init();
    REQUIRE(dev->activations == 1);
    CHECK(rd(0x70) == (1 | 2 | 8 | 4));
    put(kData, "hello ");
    put(kData + 0x100, "world");
    qb.desc(0, kData, 6, kDescNext, 1);
    qb.desc(1, kData + 0x100, 5, kDescNext, 2);
    qb.desc(2, kData + 0x200, 64, kDescWrite, 0);
    qb.post(0);
    wr(0x50, 0);
    CHECK_FALSE(needs_reset());
    CHECK(qb.used_idx() == 1);
    CHECK(qb.used_len(0) == 11);
    CHECK(get(kData + 0x200, 11) == "HELLO WORLD");
    // Many more, wrapping the rings.
    for (int i = 0; i < 3 * kSize; ++i) {
        qb.desc(3, kData, 6, kDescNext, 4);
        qb.desc(4, kData + 0x300, 6, kDescWrite, 0);
        qb.post(3);
        wr(0x50, 0);
    }
    CHECK(qb.used_idx() == 1 + 3 * kSize);
    CHECK_FALSE(needs_reset());
}

TEST_CASE_FIXTURE(Fixture, "virtio-mmio: feature negotiation refuses unknown or legacy features") {
    init(kSize, kFeatureVersion1 | (uint64_t{1} << 40));   // bit 40 not offered
    CHECK((rd(0x70) & 8) == 0);
    CHECK((rd(0x70) & 4) == 0);
    CHECK(dev->activations == 0);
    init(kSize, 1);   // no VERSION_1
    CHECK((rd(0x70) & 8) == 0);
    init();
    CHECK(dev->activations == 1);
}

TEST_CASE_FIXTURE(Fixture, "virtio-mmio: bad queue configurations need a reset") {
    init(6);   // not a power of two
    CHECK(needs_reset());
    CHECK(mmio.failure().find("queue 0") != std::string::npos);
    CHECK(dev->activations == 0);
    init(16);   // above QueueNumMax
    CHECK(needs_reset());
    init(0x10000 + kSize);   // a valid size only if truncated to 16 bits
    CHECK(needs_reset());
    CHECK(mmio.failure() == "queue 0: virtqueue: size 0 is not a power of two up to 8");
    wr(0x70, 0);
    wr(0x70, 1);
    wr(0x70, 3);
    wr(0x20, 0);
    wr(0x24, 1);
    wr(0x20, 1);
    wr(0x70, 11);
    wr(0x38, kSize);
    wr(0x80, 0xfffff000);   // ring far outside the 1 MiB of RAM
    wr(0x90, kAvail);
    wr(0xa0, kUsed);
    wr(0x44, 1);
    wr(0x70, 15);
    CHECK(needs_reset());
    CHECK(mmio.failure() == "queue 0: virtqueue: ring outside guest RAM");
    init();
    CHECK_FALSE(needs_reset());   // a reset brings it back
}

TEST_CASE_FIXTURE(Fixture, "virtio-mmio: malformed descriptors of every kind need a reset") {
    struct Case {
        const char* name;
        void (*build)(QueueBuilder&);
        const char* message;
    };
    const Case cases[] = {
        {"index out of range", [](QueueBuilder& b) { b.post(9); }, "descriptor index 9 out of range"},
        {"loop", [](QueueBuilder& b) {
             b.desc(0, kData, 4, kDescNext, 1);
             b.desc(1, kData, 4, kDescNext, 0);
             b.post(0);
         }, "descriptor chain loops"},
        {"next out of range", [](QueueBuilder& b) {
             b.desc(0, kData, 4, kDescNext, 200);
             b.post(0);
         }, "descriptor index 200 out of range"},
        {"buffer outside RAM", [](QueueBuilder& b) {
             b.desc(0, 0xffffffffff00ull, 0x200, 0, 0);
             b.post(0);
         }, "buffer outside guest RAM"},
        {"length wraps", [](QueueBuilder& b) {
             b.desc(0, 0xff000, 0xffffffff, kDescWrite, 0);
             b.post(0);
         }, "buffer outside guest RAM"},
        {"read after write", [](QueueBuilder& b) {
             b.desc(0, kData, 4, kDescWrite | kDescNext, 1);
             b.desc(1, kData, 4, 0, 0);
             b.post(0);
         }, "readable descriptor after a writable one"},
        {"indirect", [](QueueBuilder& b) {
             b.desc(0, kData, 16, kDescIndirect, 0);
             b.post(0);
         }, "indirect descriptors were not negotiated"},
        {"avail index jump", [](QueueBuilder& b) {
             b.desc(0, kData, 4, 0, 0);
             b.post(0);
             b.avail_idx = 1000;
             REQUIRE(b.ram.write_obj(kAvail + 2, b.avail_idx));
         }, "available index moved by more than the queue size"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        std::fill(host.begin(), host.end(), 0);
        qb.avail_idx = 0;
        init();
        REQUIRE_FALSE(needs_reset());
        c.build(qb);
        wr(0x50, 0);
        CHECK(needs_reset());
        CHECK(mmio.failure().find(c.message) != std::string::npos);
        CHECK((rd(0x60) & 2) == 2);   // configuration change interrupt
        // Notifies are ignored until the driver resets the device.
        wr(0x50, 0);
        CHECK(qb.used_idx() == 0);
    }
}
