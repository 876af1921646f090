// Guest RAM over the migration stream (migration/engine): the source
// sends the pages a dirty bitmap names (runs of set bits, zero pages as
// ZERO records), at most max-bandwidth bytes per second; the destination
// applies RAM records to its guest RAM.  Migration thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "migration/engine/prefault.h"
#include "migration/stream/reader.h"
#include "migration/stream/writer.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

// Bytes per second, enforced over 100 ms windows (0: unlimited).
class RateLimiter {
public:
    explicit RateLimiter(uint64_t bytes_per_second) : m_rate(bytes_per_second) {}
    void set_rate(uint64_t bytes_per_second) { m_rate = bytes_per_second; }
    // Called after `bytes` went out; sleeps when the window's share is used.
    void consumed(uint64_t bytes);

private:
    uint64_t m_rate;
    uint64_t m_window_bytes = 0;
    std::chrono::steady_clock::time_point m_window_start = std::chrono::steady_clock::now();
};

struct SendProgress {
    uint64_t pages = 0;        // pages sent (data or zero)
    uint64_t zero_pages = 0;
    uint64_t bytes = 0;        // stream bytes
};

// The figures of a pass so far, every kProgressPages pages sent (so that
// query-migrate moves during a pass, as QEMU's does).
using SendProgressFn = std::function<void(const SendProgress&)>;
constexpr uint64_t kProgressPages = 16384;   // 64 MiB

// Sends every page whose bit is set in `dirty` (one bit per 4 KiB page of
// ram), each run copied out of guest RAM before it is checked and sent;
// calls `progress` (if set) on the way.  Stops early with an Error when
// `cancel` becomes true.
Result<SendProgress> send_dirty_pages(stream::StreamWriter& w, std::span<const uint8_t> ram,
                                      const std::vector<uint64_t>& dirty, RateLimiter& limiter,
                                      const std::atomic<bool>& cancel,
                                      const SendProgressFn& progress = {});

// A bitmap with every page of `ram_bytes` set (the first pass).
std::vector<uint64_t> all_pages(uint64_t ram_bytes);
uint64_t count_pages(const std::vector<uint64_t>& bits);

// The destination's pages that were never written, known without reading
// them: when guest RAM is private anonymous memory (molt's default), a
// page that is neither present nor swapped out (/proc/self/pagemap) reads
// as zero.  Why: a ZERO record is 24 bytes for up to 1 MiB, so a socket
// buffer holds gigabytes of them, and the destination's check of each page
// ran behind the source's scan by the time the source stopped the guest
// (3 GiB of untouched RAM on tcg: 0.14-0.2 s between the source's STOP
// and the destination's RESUME, ~15 ms with this).  Any other RAM (shared,
// file-backed) or an unreadable pagemap: unusable(), every page is
// checked.  Incoming thread only.
class UntouchedPages {
public:
    explicit UntouchedPages(std::span<const uint8_t> ram);
    bool usable() const { return static_cast<bool>(m_pagemap); }
    // For pages [first_page, first_page + count) of ram (count <= kBatch):
    // sets untouched[i] for each page known to read as zero.  False (and
    // nothing set) when it cannot tell.
    static constexpr size_t kBatch = 4096;
    bool find(uint64_t first_page, size_t count, std::vector<bool>& untouched);

private:
    UniqueFd m_pagemap;
    uint64_t m_first_host_page = 0;   // ram's first page in the address space
    std::vector<uint64_t> m_entries;
};

// Applies one RAM record: data read straight into ram (and reported to
// `prefault`, if given, which faults in what follows), zero runs cleared
// (only pages that are not zero already - untouched ones not even read,
// when `untouched` is given and usable - so untouched memory stays
// untouched).  The reader has checked the run lies inside ram.
Result<void> receive_ram(stream::StreamReader& r, const stream::RamRecord& rec,
                         std::span<uint8_t> ram, UntouchedPages* untouched = nullptr,
                         Prefaulter* prefault = nullptr);

}  // namespace molt::migration
