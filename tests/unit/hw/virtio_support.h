// Test support for virtio devices (tests/unit/hw): a queue builder that
// writes descriptor tables and rings into guest memory as a driver does
// (rust-vmm virtio-queue's mock, our own), and a test device behind a
// transport, shared by the virtio tests.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "hw/memory/guest_memory.h"
#include "hw/virtio/mmio.h"
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

// A test device (id 0x7e): copies each chain's readable bytes, upper-cased,
// into its writable buffers.
struct UpperDevice : Device {
    std::vector<Queue>* queues = nullptr;
    const GuestMemory* ram = nullptr;
    int activations = 0, resets = 0;

    uint32_t device_id() const override { return 0x7e; }
    uint64_t device_features() const override { return kFeatureVersion1 | 1; }
    size_t queue_count() const override { return 1; }
    uint16_t queue_max_size() const override { return kSize; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override {
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xa0 + offset + i);
    }
    Result<void> activate(uint64_t, std::vector<Queue>& q, const GuestMemory& r) override {
        queues = &q;
        ram = &r;
        ++activations;
        return ok();
    }
    void restore(uint64_t, std::vector<Queue>& q, const GuestMemory& r) override {
        queues = &q;
        ram = &r;
    }
    Result<void> notify(size_t index) override {
        Queue& q = (*queues)[index];
        while (true) {
            std::optional<Chain> c = MOLT_TRY(q.pop(*ram));
            if (!c) return ok();
            std::vector<uint8_t> bytes;
            for (const Segment& s : c->readable) {
                std::vector<uint8_t> part(s.len);
                MOLT_TRY(ram->read(s.gpa, part));
                bytes.insert(bytes.end(), part.begin(), part.end());
            }
            for (auto& b : bytes) b = static_cast<uint8_t>(std::toupper(b));
            uint32_t written = 0;
            for (const Segment& s : c->writable) {
                uint32_t n = std::min<uint32_t>(s.len, static_cast<uint32_t>(bytes.size() - written));
                MOLT_TRY(ram->write(s.gpa, std::span(bytes.data() + written, n)));
                written += n;
            }
            MOLT_TRY(q.push_used(*ram, c->head, written));
        }
    }
    void reset() override { ++resets; queues = nullptr; }
};

// The transport in front of an UpperDevice on 1 MiB of fake guest RAM,
// driven as a guest driver does.
struct UpperFixture {
    std::vector<uint8_t> host = std::vector<uint8_t>(1 << 20);
    GuestMemory ram{host};
    UpperDevice* dev = new UpperDevice();
    MmioTransport mmio{std::unique_ptr<Device>(dev), ram};
    QueueBuilder qb{ram};

    uint32_t rd(uint64_t off) {
        uint32_t v = 0;
        mmio.read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
        return v;
    }
    void wr(uint64_t off, uint32_t v) {
        mmio.write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
    }
    // The driver initialisation sequence of 3.1.1.
    void init(uint32_t num = kSize, uint64_t features = kFeatureVersion1) {
        wr(0x70, 0);
        wr(0x70, 1);
        wr(0x70, 1 | 2);
        wr(0x24, 0);
        wr(0x20, static_cast<uint32_t>(features));
        wr(0x24, 1);
        wr(0x20, static_cast<uint32_t>(features >> 32));
        wr(0x70, 1 | 2 | 8);
        wr(0x30, 0);
        wr(0x38, num);
        wr(0x80, kDesc);
        wr(0x90, kAvail);
        wr(0xa0, kUsed);
        wr(0x44, 1);
        wr(0x70, 1 | 2 | 8 | 4);
    }
    void put(uint64_t gpa, const char* s) {
        REQUIRE(ram.write(gpa, std::span(reinterpret_cast<const uint8_t*>(s), std::strlen(s))));
    }
    std::string get(uint64_t gpa, size_t n) {
        std::string s(n, '\0');
        REQUIRE(ram.read(gpa, std::span(reinterpret_cast<uint8_t*>(s.data()), n)));
        return s;
    }
    bool needs_reset() { return (rd(0x70) & 0x40) != 0; }
};

}  // namespace molt::hw::virtio::test
