// The dirty page rate measurement behind calc-dirty-rate and
// query-dirty-rate (migration/; schema/dirty-rate.json).
//
// DirtyRateMeter holds the state QEMU 7.2 keeps in migration/dirtyrate.c
// (status, mode, start time, period, sample size, result) and does the
// two ends of a measurement; the period in between belongs to the
// caller, which arms a main-loop timer and calls finish() when it fires,
// so the monitor keeps answering while the guest is measured.  It sees
// the machine only through DirtyRateSource.  Main thread only.
//
//   QMP client          handler (vmm)              DirtyRateMeter      machine
//   calc-dirty-rate --> start(source, req, now) --> checks, begins ---> log on / hashes
//   <-- {}          <-- arm timer(period_ms())
//   query-dirty-rate -> info()                     {measuring}
//                       timer fires: finish() ---> counts --------> sync, log off / hashes
//   query-dirty-rate -> info()                     {measured, dirty-rate}
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "qapi-types-dirty-rate.h"
#include "runtime/result.h"

namespace molt::migration {

// What a measurement needs from the machine: its RAM, read one page at a
// time, and its dirty page tracking (one bit per 4 KiB page).
class DirtyRateSource {
public:
    virtual ~DirtyRateSource() = default;
    virtual uint64_t ram_bytes() const = 0;
    // Copies guest RAM at offset (0 .. ram_bytes(), pages numbered as the
    // dirty log numbers them) into out; an error outside RAM.
    virtual Result<void> read(uint64_t offset, std::span<uint8_t> out) const = 0;
    // Whether the dirty page tracking is on (owned by someone, e.g. a
    // migration, or by this meter).
    virtual bool dirty_log_active() const = 0;
    virtual Result<void> start_dirty_log() = 0;
    // The pages written since start or the last sync, cleared.
    virtual Result<std::vector<uint64_t>> sync_dirty_log() = 0;
    virtual Result<void> stop_dirty_log() = 0;
};

// calc-dirty-rate's arguments.
struct DirtyRateRequest {
    int64_t calc_time = 0;                           // seconds
    std::optional<int64_t> sample_pages;             // per GiB
    std::optional<api::DirtyRateMeasureMode> mode;
};

class DirtyRateMeter {
public:
    // QEMU 7.2's limits (migration/dirtyrate.h).
    static constexpr int64_t kMinCalcTime = 1, kMaxCalcTime = 60;
    static constexpr int64_t kMinSamplePages = 128, kMaxSamplePages = 16384;
    static constexpr int64_t kDefaultSamplePages = 512;
    static constexpr uint64_t kPageBytes = 4096;
    // RAM smaller than this is not sampled (QEMU's MIN_RAMBLOCK_SIZE).
    static constexpr uint64_t kMinSampledRamBytes = 128 << 10;

    // Checks req in QEMU 7.2's order and with its texts (already
    // measuring, calc-time, sample-pages, mode), then begins: page-sampling
    // hashes a random sample of pages, dirty-bitmap turns the source's
    // dirty log on (refused if it is already on: someone else owns it).
    // On success the status is measuring and the caller must call
    // finish() period_ms() from now.  On error nothing changed.
    Result<void> start(DirtyRateSource& source, const DirtyRateRequest& req, uint64_t now_ms);
    // Ends the running measurement at now_ms: status measured, with the
    // rate in MB/s.  If reading the machine fails, the rate is -1 (as
    // QEMU reports a failed measurement) and the error is returned for
    // the caller to report; the dirty log is off either way.
    Result<void> finish(DirtyRateSource& source, uint64_t now_ms);

    bool measuring() const { return m_status == api::DirtyRateStatus::Measuring; }
    uint64_t period_ms() const { return static_cast<uint64_t>(m_calc_time) * 1000; }
    api::DirtyRateInfo info() const;

private:
    struct Sample {
        uint64_t gpa;
        uint64_t hash;
    };
    Result<void> check(const DirtyRateRequest& req, api::DirtyRateMeasureMode& mode,
                       int64_t& sample_pages, const DirtyRateSource& source) const;
    Result<void> take_samples(const DirtyRateSource& source, int64_t per_gib,
                              std::vector<Sample>& out) const;
    Result<int64_t> finish_sampling(const DirtyRateSource& source, uint64_t msec) const;
    Result<int64_t> finish_bitmap(DirtyRateSource& source, uint64_t msec) const;

    api::DirtyRateStatus m_status = api::DirtyRateStatus::Unstarted;
    api::DirtyRateMeasureMode m_mode = api::DirtyRateMeasureMode::PageSampling;
    int64_t m_start_time = 0;      // seconds, monotonic
    int64_t m_calc_time = 0;       // seconds
    uint64_t m_sample_pages = 0;   // per GiB
    int64_t m_rate = -1;           // MB/s
    uint64_t m_start_ms = 0;
    std::vector<Sample> m_samples;
};

// The hash page-sampling compares (64-bit, over one 4 KiB page).
uint64_t page_hash(std::span<const uint8_t> page);

// Bits set in a dirty bitmap.
uint64_t count_dirty_pages(const std::vector<uint64_t>& bits);

}  // namespace molt::migration
