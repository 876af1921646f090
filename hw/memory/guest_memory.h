// GuestMemory: guest-physical RAM as the VMM reaches it (hw/memory).
//
// One contiguous RAM region at guest-physical address 0 (the memory
// backend's mapping).  Everything the VMM reads or writes in guest RAM
// (boot images, page tables, virtqueues) goes through read()/write(),
// which check bounds and return an Error for an address outside RAM; no
// host pointer into guest RAM is kept beyond one call (STYLE.md 5).
// Thread-safe as memory is: concurrent guest access is the caller's
// business.
#pragma once

#include <cstdint>
#include <span>

#include "hw/memory/dirty_bitmap.h"
#include "runtime/result.h"

namespace molt::hw {

class GuestMemory {
public:
    explicit GuestMemory(std::span<uint8_t> host) : m_host(host) {}

    uint64_t size_bytes() const { return m_host.size(); }
    bool contains(uint64_t gpa, uint64_t length) const {
        return gpa <= m_host.size() && length <= m_host.size() - gpa;
    }

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

    // For accelerators that map RAM into the guest (KVM memory slots,
    // Unicorn's uc_mem_map_ptr): the host mapping itself.
    std::span<uint8_t> host_mapping() const { return m_host; }

    // While set, write() and fill() mark the pages they change (the VMM's
    // own writes, which no accelerator sees).  Not owned.
    void set_dirty_bitmap(DirtyBitmap* bitmap) { m_dirty.store(bitmap, std::memory_order_release); }

private:
    void mark(uint64_t gpa, uint64_t length) const {
        if (DirtyBitmap* d = m_dirty.load(std::memory_order_acquire)) d->mark(gpa, length);
    }

    std::span<uint8_t> m_host;
    std::atomic<DirtyBitmap*> m_dirty{nullptr};
};

}  // namespace molt::hw
