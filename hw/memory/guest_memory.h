// GuestMemory: guest-physical RAM as the VMM reaches it (hw/memory).
//
// One memory backend mapping (host offsets 0 .. size) seen by the guest
// the way a PC lays RAM out: the first low_limit bytes at guest-physical
// 0 ("low RAM", below the MMIO hole), the rest from 4 GiB up ("high
// RAM").  So with low_limit L and size S > L:
//     gpa [0, L)            -> host offset [0, L)
//     gpa [4 GiB, 4 GiB+S-L) -> host offset [L, S)
// and [L, 4 GiB) is a hole (MMIO windows, no RAM).  Host offsets are
// what migration sends and what the dirty bitmap indexes; guest-physical
// addresses are what the guest, its device tree and its devices use.
// Everything the VMM reads or writes in guest RAM (boot images, page
// tables, virtqueues) goes through read()/write(), which check bounds and
// return an Error for an address outside RAM (in the hole or beyond);
// no host pointer into guest RAM is kept beyond one call (STYLE.md 5).
// Thread-safe as memory is: concurrent guest access is the caller's
// business.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "hw/memory/dirty_bitmap.h"
#include "runtime/result.h"

namespace molt::hw {

class GuestMemory {
public:
    // Where high RAM starts in guest-physical space.
    static constexpr uint64_t kHighBase = uint64_t{4} << 30;

    // A window of guest-physical space backed by RAM.
    struct Region {
        uint64_t gpa;           // first guest-physical address
        uint64_t host_offset;   // where in the backend mapping it starts
        uint64_t size_bytes;
    };

    // low_limit: the most RAM below the hole (at most kHighBase; a
    // multiple of 4 KiB).  The default puts all RAM up to 4 GiB low.
    explicit GuestMemory(std::span<uint8_t> host, uint64_t low_limit = kHighBase);

    // The backend's size: low plus high RAM.
    uint64_t size_bytes() const { return m_host.size(); }
    // RAM below the hole (from 0) and from kHighBase (0: none).
    uint64_t low_bytes() const { return m_regions[0].size_bytes; }
    uint64_t high_bytes() const { return m_count > 1 ? m_regions[1].size_bytes : 0; }
    // One region (low) or two (low, high), in guest-physical order.
    std::span<const Region> regions() const { return {m_regions.data(), m_count}; }
    // The end of the highest guest-physical RAM address + 1.
    uint64_t gpa_end() const {
        const Region& r = m_regions[m_count - 1];
        return r.gpa + r.size_bytes;
    }

    // Whether every byte of [gpa, gpa + length) is RAM.
    bool contains(uint64_t gpa, uint64_t length) const;
    // gpa -> host offset; nullopt in the hole or beyond RAM.  Cheap
    // enough for tcg's per-store write hook.
    std::optional<uint64_t> host_offset(uint64_t gpa) const {
        if (gpa < m_regions[0].size_bytes) return gpa;
        if (m_count > 1 && gpa >= kHighBase && gpa - kHighBase < m_regions[1].size_bytes) {
            return gpa - kHighBase + m_regions[1].host_offset;
        }
        return std::nullopt;
    }
    // host offset -> gpa; nullopt beyond the backend.
    std::optional<uint64_t> gpa_of(uint64_t host_offset) const;

    // Errors (nothing copied) unless all of [gpa, gpa + length) is RAM; a
    // range may span both regions only where they touch (low_limit =
    // 4 GiB).
    Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;
    Result<void> write(uint64_t gpa, std::span<const uint8_t> in) const;
    Result<void> fill(uint64_t gpa, uint64_t length, uint8_t value) const;

    // A trivially copyable T at gpa.
    // SAFETY: T is plain data; its bytes are copied, never aliased.
    template <class T>
    Result<T> read_obj(uint64_t gpa) const {
        T v{};
        MOLT_TRY(read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
        return v;
    }
    template <class T>
    Result<void> write_obj(uint64_t gpa, const T& v) const {
        return write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), sizeof(T)));
    }

    // The whole backend mapping, indexed by host offset (migration).
    std::span<uint8_t> host_mapping() const { return m_host; }
    // For accelerators that map RAM into the guest (KVM memory slots,
    // Unicorn's uc_mem_map_ptr): one region's part of the mapping.
    std::span<uint8_t> host_span(const Region& r) const {
        return m_host.subspan(r.host_offset, r.size_bytes);
    }

    // While set, write() and fill() mark the pages they change (the VMM's
    // own writes, which no accelerator sees), by host offset.  Not owned.
    void set_dirty_bitmap(DirtyBitmap* bitmap) { m_dirty.store(bitmap, std::memory_order_release); }

private:
    // Calls fn(host offset, length) for each region-sized piece of [gpa,
    // gpa + length), after checking that all of it is RAM.
    template <class Fn>
    Result<void> for_each_piece(uint64_t gpa, uint64_t length, Fn fn) const;

    std::span<uint8_t> m_host;
    std::array<Region, 2> m_regions{};
    size_t m_count = 1;
    std::atomic<DirtyBitmap*> m_dirty{nullptr};
};

}  // namespace molt::hw
