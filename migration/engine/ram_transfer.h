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

#include "migration/stream/reader.h"
#include "migration/stream/writer.h"
#include "runtime/result.h"

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

// Applies one RAM record: data read straight into ram, zero runs cleared
// (only pages that are not zero already, so untouched memory stays
// untouched).  The reader has checked the run lies inside ram.
Result<void> receive_ram(stream::StreamReader& r, const stream::RamRecord& rec, std::span<uint8_t> ram);

}  // namespace molt::migration
