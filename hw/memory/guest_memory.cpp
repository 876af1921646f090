// GuestMemory; see guest_memory.h.
#include "hw/memory/guest_memory.h"

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <string>

namespace molt::hw {

namespace {

Error outside(uint64_t gpa, uint64_t length) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "guest address range 0x%llx+0x%llx is outside RAM",
                  static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(length));
    return Error(buf);
}

}  // namespace

GuestMemory::GuestMemory(std::span<uint8_t> host, uint64_t low_limit) : m_host(host) {
    MOLT_ASSERT(low_limit <= kHighBase && low_limit % 4096 == 0);
    uint64_t low = std::min<uint64_t>(host.size(), low_limit);
    m_regions[0] = {0, 0, low};
    if (host.size() > low) {
        m_regions[1] = {kHighBase, low, host.size() - low};
        m_count = 2;
    }
}

std::optional<uint64_t> GuestMemory::gpa_of(uint64_t offset) const {
    for (const Region& r : regions()) {
        if (offset >= r.host_offset && offset - r.host_offset < r.size_bytes) {
            return r.gpa + (offset - r.host_offset);
        }
    }
    return std::nullopt;
}

template <class Fn>
Result<void> GuestMemory::for_each_piece(uint64_t gpa, uint64_t length, Fn fn) const {
    if (!contains(gpa, length)) return outside(gpa, length);
    while (length > 0) {
        // contains() found a region for every byte.
        for (const Region& r : regions()) {
            if (gpa < r.gpa || gpa - r.gpa >= r.size_bytes) continue;
            uint64_t n = std::min(length, r.size_bytes - (gpa - r.gpa));
            fn(r.host_offset + (gpa - r.gpa), n);
            gpa += n;
            length -= n;
            break;
        }
    }
    return ok();
}

bool GuestMemory::contains(uint64_t gpa, uint64_t length) const {
    // Regions are in guest-physical order and do not overlap.  A range
    // running past a region's end goes on only into a region that starts
    // right there.
    for (const Region& r : regions()) {
        if (gpa < r.gpa || gpa - r.gpa > r.size_bytes) continue;
        uint64_t room = r.size_bytes - (gpa - r.gpa);
        if (length <= room) return true;
        gpa += room;
        length -= room;
    }
    return false;
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
    uint8_t* dst = out.data();
    return for_each_piece(gpa, out.size(), [&](uint64_t off, uint64_t n) {
        std::memcpy(dst, m_host.data() + off, n);
        dst += n;
    });
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) const {
    const uint8_t* src = in.data();
    DirtyBitmap* dirty = m_dirty.load(std::memory_order_acquire);
    return for_each_piece(gpa, in.size(), [&](uint64_t off, uint64_t n) {
        std::memcpy(m_host.data() + off, src, n);
        src += n;
        if (dirty) dirty->mark(off, n);
    });
}

Result<void> GuestMemory::fill(uint64_t gpa, uint64_t length, uint8_t value) const {
    DirtyBitmap* dirty = m_dirty.load(std::memory_order_acquire);
    return for_each_piece(gpa, length, [&](uint64_t off, uint64_t n) {
        std::memset(m_host.data() + off, value, n);
        if (dirty) dirty->mark(off, n);
    });
}

}  // namespace molt::hw
