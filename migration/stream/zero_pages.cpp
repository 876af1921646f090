// Zero-page detection and run splitting (zero_pages.h).
#include "migration/stream/zero_pages.h"

#include <cstring>

#include "runtime/result.h"

namespace molt::migration::stream {

bool is_zero_page(const uint8_t* page) {
    // Most data pages have a non-zero first word: answer those at once.
    uint64_t first;
    std::memcpy(&first, page, sizeof(first));
    if (first != 0) return false;
    for (size_t block = 0; block < kPageBytes; block += 64) {
        uint64_t any = 0;
        for (size_t i = 0; i < 64; i += 8) {
            uint64_t w;
            std::memcpy(&w, page + block + i, sizeof(w));
            any |= w;
        }
        if (any != 0) return false;
    }
    return true;
}

void split_page_runs(uint64_t first_page, std::span<const uint8_t> pages, std::vector<PageRun>& out,
                     uint32_t max_data_pages) {
    MOLT_ASSERT(pages.size() % kPageBytes == 0);
    MOLT_ASSERT(max_data_pages >= 1 && max_data_pages <= kMaxDataRunPages);
    out.clear();
    const size_t count = pages.size() / kPageBytes;
    for (size_t i = 0; i < count; ++i) {
        bool zero = is_zero_page(pages.data() + i * kPageBytes);
        uint32_t limit = zero ? kMaxZeroRunPages : max_data_pages;
        if (!out.empty() && out.back().zero == zero && out.back().page_count < limit) {
            ++out.back().page_count;
        } else {
            out.push_back(PageRun{first_page + i, 1, zero});
        }
    }
}

}  // namespace molt::migration::stream
