// RAM transfer; see ram_transfer.h.
#include "migration/engine/ram_transfer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include "migration/stream/zero_pages.h"

namespace molt::migration {

namespace {
constexpr uint64_t kPage = stream::kPageBytes;
constexpr uint64_t kMaxRunPages = 256;   // one write per MiB at most

bool all_zero(std::span<const uint8_t> pages) {
    for (size_t at = 0; at < pages.size(); at += kPage) {
        if (!stream::is_zero_page(pages.data() + at)) return false;
    }
    return true;
}
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
        if (all_zero(run)) {
            // No copy needed: a ZERO record has no bytes whose CRC could
            // disagree, and a page written after the check is dirty again.
            MOLT_TRY(w.write_zero_pages(page, static_cast<uint32_t>(end - page)));
        } else {
            std::memcpy(copy.data(), run.data(), run.size());
            MOLT_TRY(w.write_ram_pages(page, std::span<const uint8_t>(copy.data(), run.size())));
        }
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

namespace {

// Whether [begin, end) lies in private anonymous mappings only
// (/proc/self/maps: "rw-p", inode 0, no path).
bool private_anonymous(uintptr_t begin, uintptr_t end) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    uintptr_t covered = begin;
    while (std::getline(maps, line) && covered < end) {
        unsigned long lo = 0, hi = 0, inode = 0;
        char perms[5] = {};
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx %4s %*s %*s %lu %n", &lo, &hi, perms, &inode,
                        &path_at) < 4) {
            return false;
        }
        if (hi <= covered || lo > covered) continue;
        std::string_view path = std::string_view(line).substr(static_cast<size_t>(path_at));
        bool anonymous = inode == 0 && path.empty();
        if (perms[3] != 'p' || !anonymous) return false;
        covered = hi;
    }
    return covered >= end;
}

constexpr uint64_t kPagemapPresent = uint64_t{1} << 63;
constexpr uint64_t kPagemapSwapped = uint64_t{1} << 62;

}  // namespace

UntouchedPages::UntouchedPages(std::span<const uint8_t> ram) {
    // SAFETY: the addresses are only compared and turned into page numbers.
    auto begin = reinterpret_cast<uintptr_t>(ram.data());
    if (ram.empty() || begin % kPage || !private_anonymous(begin, begin + ram.size())) return;
    m_pagemap = UniqueFd(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    m_first_host_page = begin / kPage;
    m_entries.resize(kBatch);
}

bool UntouchedPages::find(uint64_t first_page, size_t count, std::vector<bool>& untouched) {
    MOLT_ASSERT(count <= kBatch);
    if (!m_pagemap) return false;
    size_t bytes = count * sizeof(uint64_t);
    auto offset = static_cast<off_t>((m_first_host_page + first_page) * sizeof(uint64_t));
    if (pread(m_pagemap.get(), m_entries.data(), bytes, offset) != static_cast<ssize_t>(bytes)) {
        m_pagemap.reset();   // do not try again
        return false;
    }
    untouched.assign(count, false);
    for (size_t i = 0; i < count; ++i) {
        untouched[i] = (m_entries[i] & (kPagemapPresent | kPagemapSwapped)) == 0;
    }
    return true;
}

Result<void> receive_ram(stream::StreamReader& r, const stream::RamRecord& rec,
                         std::span<uint8_t> ram, UntouchedPages* untouched, Prefaulter* prefault) {
    uint64_t offset = rec.first_page * kPage;
    uint64_t bytes = uint64_t{rec.page_count} * kPage;
    if (offset > ram.size() || bytes > ram.size() - offset) {
        return Error("RAM run beyond guest RAM");   // the reader checks this first
    }
    std::span<uint8_t> dest = ram.subspan(offset, bytes);
    if (!rec.zero) {
        // Said before the read: the populate runs while this one copies.
        if (prefault) prefault->wrote(offset + bytes);
        return r.read_ram_into(dest);
    }
    // As fast as the source's check (stream/zero_pages.h), and untouched
    // pages not read at all (UntouchedPages says why).
    std::vector<bool> known_zero;
    for (uint64_t done = 0; done < rec.page_count; done += UntouchedPages::kBatch) {
        auto n = static_cast<size_t>(std::min<uint64_t>(UntouchedPages::kBatch,
                                                         rec.page_count - done));
        bool known = untouched && untouched->find(rec.first_page + done, n, known_zero);
        for (size_t i = 0; i < n; ++i) {
            if (known && known_zero[i]) continue;
            uint8_t* p = dest.data() + (done + i) * kPage;
            if (!stream::is_zero_page(p)) std::memset(p, 0, kPage);
        }
    }
    return ok();
}

}  // namespace molt::migration
