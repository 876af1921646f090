// DirtyBitmap: one bit per 4 KiB page of guest RAM, indexed by host
// offset in the memory backend (not by guest-physical address: see
// guest_memory.h), set by whoever writes guest RAM outside the
// accelerator's own tracking (tcg's write hook, the VMM's devices through
// GuestMemory), collected by migration (hw/memory).
// Lock-free: mark() from any thread, take() returns and clears atomically
// word by word.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace molt::hw {

class DirtyBitmap {
public:
    static constexpr uint64_t kPageShift = 12;

    explicit DirtyBitmap(uint64_t ram_bytes)
        : m_pages((ram_bytes + (uint64_t{1} << kPageShift) - 1) >> kPageShift),
          m_words(new std::atomic<uint64_t>[(m_pages + 63) / 64]()) {}

    uint64_t pages() const { return m_pages; }
    size_t words() const { return static_cast<size_t>((m_pages + 63) / 64); }

    // Marks every page touched by [host_offset, host_offset + length);
    // beyond RAM is ignored.
    void mark(uint64_t host_offset, uint64_t length) {
        if (length == 0) return;
        uint64_t first = host_offset >> kPageShift;
        uint64_t last = (host_offset + length - 1) >> kPageShift;
        for (uint64_t p = first; p <= last && p < m_pages; ++p) {
            m_words[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
        }
    }

    // Adds bits gathered elsewhere (one per page, as take() returns
    // them), bit 0 standing for page first_page (e.g. a KVM memory
    // slot's log, the slot starting at that page of the backend); pages
    // beyond this bitmap are ignored.
    void merge(const std::vector<uint64_t>& bits, uint64_t first_page = 0) {
        if (first_page % 64 == 0) {
            size_t at = static_cast<size_t>(first_page / 64);
            for (size_t i = 0; i < bits.size() && at + i < words(); ++i) {
                if (bits[i]) m_words[at + i].fetch_or(bits[i], std::memory_order_relaxed);
            }
            return;
        }
        for (size_t i = 0; i < bits.size(); ++i) {
            for (uint64_t w = bits[i]; w != 0; w &= w - 1) {
                uint64_t p = first_page + i * 64 + static_cast<uint64_t>(__builtin_ctzll(w));
                if (p >= m_pages) return;   // and so are the rest
                m_words[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
            }
        }
    }

    // The bits set since the last take(), cleared.
    std::vector<uint64_t> take() {
        std::vector<uint64_t> out(words());
        for (size_t i = 0; i < out.size(); ++i) {
            out[i] = m_words[i].exchange(0, std::memory_order_acq_rel);
        }
        return out;
    }

private:
    uint64_t m_pages;
    std::unique_ptr<std::atomic<uint64_t>[]> m_words;
};

}  // namespace molt::hw
