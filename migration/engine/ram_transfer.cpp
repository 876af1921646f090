// RAM transfer; see ram_transfer.h.
#include "migration/engine/ram_transfer.h"

#include <cstring>
#include <thread>

namespace molt::migration {

namespace {
constexpr uint64_t kPage = stream::kPageBytes;
constexpr uint64_t kMaxRunPages = 256;   // one write per MiB at most
}  // namespace

void RateLimiter::consumed(uint64_t bytes) {
    if (m_rate == 0) return;
    using namespace std::chrono;
    m_window_bytes += bytes;
    uint64_t budget = m_rate / 10;   // per 100 ms
    if (m_window_bytes < budget) return;
    auto window_end = m_window_start + milliseconds(100);
    auto now = steady_clock::now();
    if (now < window_end) std::this_thread::sleep_until(window_end);
    m_window_start = std::max(window_end, now);
    m_window_bytes = 0;
}

std::vector<uint64_t> all_pages(uint64_t ram_bytes) {
    uint64_t pages = (ram_bytes + kPage - 1) / kPage;
    std::vector<uint64_t> bits((pages + 63) / 64, ~uint64_t{0});
    if (pages % 64) bits.back() = (uint64_t{1} << (pages % 64)) - 1;
    return bits;
}

uint64_t count_pages(const std::vector<uint64_t>& bits) {
    uint64_t n = 0;
    for (uint64_t w : bits) n += static_cast<uint64_t>(__builtin_popcountll(w));
    return n;
}

Result<SendProgress> send_dirty_pages(stream::StreamWriter& w, std::span<const uint8_t> ram,
                                      const std::vector<uint64_t>& dirty, RateLimiter& limiter,
                                      const std::atomic<bool>& cancel,
                                      const SendProgressFn& progress) {
    SendProgress p;
    uint64_t reported = 0;   // p.pages at the last progress call
    // The guest may be writing these pages: each run is copied first, so
    // that its zero check, its CRC and its bytes on the wire agree (a page
    // changed after the copy is dirty again and goes in a later pass).
    std::vector<uint8_t> copy(kMaxRunPages * kPage);
    uint64_t pages = ram.size() / kPage;
    uint64_t page = 0;
    auto is_set = [&](uint64_t i) { return (dirty[i / 64] >> (i % 64)) & 1; };
    while (page < pages) {
        if (dirty[page / 64] == 0 && page % 64 == 0) {   // skip clean words
            page += 64;
            continue;
        }
        if (!is_set(page)) {
            ++page;
            continue;
        }
        uint64_t end = page + 1;
        while (end < pages && end - page < kMaxRunPages && is_set(end)) ++end;
        if (cancel.load(std::memory_order_relaxed)) return Error("migration cancelled");
        uint64_t before = w.position();
        uint64_t zero_before = w.stats().zero_pages;
        std::span<const uint8_t> run = ram.subspan(page * kPage, (end - page) * kPage);
        std::memcpy(copy.data(), run.data(), run.size());
        MOLT_TRY(w.write_ram_pages(page, std::span<const uint8_t>(copy.data(), run.size())));
        uint64_t sent = w.position() - before;
        p.pages += end - page;
        p.zero_pages += w.stats().zero_pages - zero_before;
        p.bytes += sent;
        limiter.consumed(sent);
        page = end;
        if (progress && p.pages - reported >= kProgressPages) {
            progress(p);
            reported = p.pages;
        }
    }
    return p;
}

Result<void> receive_ram(stream::StreamReader& r, const stream::RamRecord& rec, std::span<uint8_t> ram) {
    uint64_t offset = rec.first_page * kPage;
    uint64_t bytes = uint64_t{rec.page_count} * kPage;
    if (offset > ram.size() || bytes > ram.size() - offset) {
        return Error("RAM run beyond guest RAM");   // the reader checks this first
    }
    std::span<uint8_t> dest = ram.subspan(offset, bytes);
    if (!rec.zero) return r.read_ram_into(dest);
    for (uint64_t at = 0; at < bytes; at += kPage) {
        uint8_t* p = dest.data() + at;
        const uint64_t* words = reinterpret_cast<const uint64_t*>(p);
        bool zero = true;
        for (size_t i = 0; i < kPage / 8 && zero; ++i) zero = words[i] == 0;
        if (!zero) std::memset(p, 0, kPage);
    }
    return ok();
}

}  // namespace molt::migration
