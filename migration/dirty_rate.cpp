// DirtyRateMeter; see dirty_rate.h.  The arithmetic is QEMU 7.2's
// (migration/dirtyrate.c), so that both report the same figure for the
// same guest: MB are 2^20 bytes, and integer division truncates.
#include "migration/dirty_rate.h"

#include <bit>
#include <cstring>
#include <random>

namespace molt::migration {

using api::DirtyRateMeasureMode;
using api::DirtyRateStatus;

uint64_t page_hash(std::span<const uint8_t> page) {
    // Every step is a bijection of the state for a given word, so a page
    // that differs from another in one 8-byte word always hashes
    // differently; wider changes collide with probability 2^-64.
    uint64_t h = 0x243f6a8885a308d3ull ^ page.size();
    size_t i = 0;
    for (; i + 8 <= page.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, page.data() + i, sizeof(w));
        h = std::rotl(h ^ (w * 0x9e3779b97f4a7c15ull), 29) * 0xbf58476d1ce4e5b9ull;
    }
    for (; i < page.size(); ++i) h = std::rotl(h ^ page[i], 8) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

uint64_t count_dirty_pages(const std::vector<uint64_t>& bits) {
    uint64_t n = 0;
    for (uint64_t w : bits) n += static_cast<uint64_t>(std::popcount(w));
    return n;
}

Result<void> DirtyRateMeter::check(const DirtyRateRequest& req, DirtyRateMeasureMode& mode,
                                   int64_t& sample_pages, const DirtyRateSource& source) const {
    if (measuring()) return Error("the dirty rate is already being measured.");
    if (req.calc_time < kMinCalcTime || req.calc_time > kMaxCalcTime) {
        return Error("calc-time is out of range[" + std::to_string(kMinCalcTime) + ", " +
                     std::to_string(kMaxCalcTime) + "].");
    }
    mode = req.mode.value_or(DirtyRateMeasureMode::PageSampling);
    if (req.sample_pages && mode == DirtyRateMeasureMode::DirtyRing) {
        return Error("either sample-pages or dirty-ring can be specified.");
    }
    sample_pages = req.sample_pages.value_or(kDefaultSamplePages);
    if (sample_pages < kMinSamplePages || sample_pages > kMaxSamplePages) {
        return Error("sample-pages is out of range[" + std::to_string(kMinSamplePages) + ", " +
                     std::to_string(kMaxSamplePages) + "].");
    }
    // molt never enables KVM's dirty ring (it uses the dirty log), so
    // dirty-ring is refused as QEMU refuses it without a ring.
    if (mode == DirtyRateMeasureMode::DirtyRing) {
        return Error("mode dirty-ring is not enabled, use other method instead.");
    }
    if (mode == DirtyRateMeasureMode::DirtyBitmap && source.dirty_log_active()) {
        return Error("mode dirty-bitmap cannot be used now: the machine's dirty page tracking is "
                     "in use (by a migration); use mode page-sampling instead");
    }
    return ok();
}

// (An out-parameter: GCC 12 misreads a Result<std::vector> here as
// freeing a non-heap object, -Wfree-nonheap-object.)
Result<void> DirtyRateMeter::take_samples(const DirtyRateSource& source, int64_t per_gib,
                                          std::vector<Sample>& samples) const {
    uint64_t ram = source.ram_bytes();
    if (ram < kMinSampledRamBytes) return ok();
    uint64_t count = (ram * static_cast<uint64_t>(per_gib)) >> 30;
    uint64_t pages = ram / kPageBytes;
    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<uint64_t> pick(0, pages - 1);
    std::vector<uint8_t> page(kPageBytes);
    samples.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t gpa = pick(rng) * kPageBytes;
        MOLT_TRY(source.read(gpa, page));
        samples.push_back({gpa, page_hash(page)});
    }
    return ok();
}

Result<void> DirtyRateMeter::start(DirtyRateSource& source, const DirtyRateRequest& req,
                                   uint64_t now_ms) {
    DirtyRateMeasureMode mode{};
    int64_t sample_pages = 0;
    MOLT_TRY(check(req, mode, sample_pages, source));
    std::vector<Sample> samples;
    if (mode == DirtyRateMeasureMode::PageSampling) {
        MOLT_TRY(take_samples(source, sample_pages, samples));
    } else {
        MOLT_TRY(source.start_dirty_log());
    }
    m_status = DirtyRateStatus::Measuring;
    m_mode = mode;
    m_start_ms = now_ms;
    m_start_time = static_cast<int64_t>(now_ms / 1000);
    m_calc_time = req.calc_time;
    m_sample_pages = static_cast<uint64_t>(sample_pages);
    m_rate = -1;
    m_samples = std::move(samples);
    return ok();
}

Result<int64_t> DirtyRateMeter::finish_sampling(const DirtyRateSource& source, uint64_t msec) const {
    // QEMU: rate = dirty samples * RAM MB * 1000 / (samples * msec); no
    // samples (RAM too small for any) is a failed measurement.
    if (m_samples.empty()) return Error("guest RAM is too small to sample");
    std::vector<uint8_t> page(kPageBytes);
    uint64_t dirty = 0;
    for (const Sample& s : m_samples) {
        MOLT_TRY(source.read(s.gpa, page));
        if (page_hash(page) != s.hash) ++dirty;
    }
    uint64_t ram_mb = ((source.ram_bytes() / kPageBytes) * kPageBytes) >> 20;
    return static_cast<int64_t>(dirty * ram_mb * 1000 / (m_samples.size() * msec));
}

Result<int64_t> DirtyRateMeter::finish_bitmap(DirtyRateSource& source, uint64_t msec) const {
    Result<std::vector<uint64_t>> bits = source.sync_dirty_log();
    Result<void> stopped = source.stop_dirty_log();
    if (!bits) return bits.error();
    MOLT_TRY(stopped);
    uint64_t mb = (count_dirty_pages(*bits) * kPageBytes) >> 20;
    return static_cast<int64_t>(mb * 1000 / msec);
}

Result<void> DirtyRateMeter::finish(DirtyRateSource& source, uint64_t now_ms) {
    if (!measuring()) return ok();
    uint64_t msec = now_ms > m_start_ms ? now_ms - m_start_ms : 1;
    Result<int64_t> rate = m_mode == DirtyRateMeasureMode::DirtyBitmap
                               ? finish_bitmap(source, msec)
                               : finish_sampling(source, msec);
    m_status = DirtyRateStatus::Measured;
    m_calc_time = static_cast<int64_t>(msec / 1000);
    m_samples.clear();
    m_rate = rate ? *rate : -1;
    if (!rate) return rate.error();
    return ok();
}

api::DirtyRateInfo DirtyRateMeter::info() const {
    api::DirtyRateInfo i{};
    i.status = m_status;
    i.start_time = m_start_time;
    i.calc_time = m_calc_time;
    i.sample_pages = m_sample_pages;
    i.mode = m_mode;
    if (m_status == DirtyRateStatus::Measured) {
        i.dirty_rate = m_rate;
        // As QEMU: a measurement that did not sample reports 0 pages.
        if (m_mode != DirtyRateMeasureMode::PageSampling) i.sample_pages = 0;
    }
    return i;
}

}  // namespace molt::migration
