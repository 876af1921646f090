// Test support for virtio devices (tests/unit/hw): a queue builder that
// writes descriptor tables and rings into guest memory as a driver does
// (rust-vmm virtio-queue's mock, our own), shared by the virtio tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>

#include "hw/memory/guest_memory.h"
#include "hw/virtio/queue.h"

namespace molt::hw::virtio::test {

constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x10000;
constexpr uint16_t kSize = 8;

// Writes rings into guest memory as a driver would.
struct QueueBuilder {
    const GuestMemory& ram;
    uint64_t desc_base = kDesc, avail_base = kAvail, used_base = kUsed;
    uint16_t avail_idx = 0;

    void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
        REQUIRE(ram.write_obj(desc_base + 16u * i, addr));
        REQUIRE(ram.write_obj(desc_base + 16u * i + 8, len));
        REQUIRE(ram.write_obj(desc_base + 16u * i + 12, flags));
        REQUIRE(ram.write_obj(desc_base + 16u * i + 14, next));
    }
    void post(uint16_t head) {
        REQUIRE(ram.write_obj(avail_base + 4 + 2u * (avail_idx % kSize), head));
        ++avail_idx;
        REQUIRE(ram.write_obj(avail_base + 2, avail_idx));
    }
    uint16_t used_idx() const { return *ram.read_obj<uint16_t>(used_base + 2); }
    uint32_t used_len(uint16_t slot) const { return *ram.read_obj<uint32_t>(used_base + 4 + 8u * slot + 4); }
};

}  // namespace molt::hw::virtio::test
