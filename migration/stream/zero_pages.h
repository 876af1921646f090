// Zero-page detection for the RAM records of the migration stream: splits
// a run of guest pages into runs of zero pages (sent as one ZERO record,
// no data) and runs of data pages (sent as data records of at most
// kMaxDataRunPages pages).
//
// Used by the writer (StreamWriter::write_ram_pages) and by the engine
// when it wants to see the runs itself.  Pure functions, any thread; the
// caller keeps the pages stable (vCPUs paused, or the dirty log will
// resend them) for the duration of the call.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "migration/stream/format.h"

namespace molt::migration::stream {

// One run of consecutive guest pages, all zero or all to be sent as data.
struct PageRun {
    uint64_t first_page = 0;
    uint32_t page_count = 0;
    bool zero = false;

    bool operator==(const PageRun&) const = default;
};

// True when the kPageBytes bytes at page are all zero (64-bit words,
// stopping at the first non-zero 64-byte block).
bool is_zero_page(const uint8_t* page);

// Replaces out with the runs of pages, in order: pages holds whole pages
// (its size a multiple of kPageBytes, else a bug), the first being guest
// page first_page.  Consecutive zero pages make one run of at most
// kMaxZeroRunPages; consecutive non-zero pages one run of at most
// max_data_pages (1..kMaxDataRunPages).  out is reused to avoid allocation.
void split_page_runs(uint64_t first_page, std::span<const uint8_t> pages, std::vector<PageRun>& out,
                     uint32_t max_data_pages = kMaxDataRunPages);

}  // namespace molt::migration::stream
