// Unit tests of migration/dirty_rate: the DirtyRateMeter against a fake
// machine (RAM in a vector, a dirty log that records who turned it on),
// with the clock given by the test.  The checks and texts are QEMU 7.2's
// (compared against it in tests/integration/test_dirty_rate.py).
#include <doctest/doctest.h>

#include <cstring>

#include "migration/dirty_rate.h"

using namespace molt;
using namespace molt::migration;
using api::DirtyRateMeasureMode;
using api::DirtyRateStatus;

namespace {

constexpr uint64_t kPage = 4096;

struct FakeMachine : DirtyRateSource {
    explicit FakeMachine(uint64_t bytes) : ram(bytes) {}
    uint64_t ram_bytes() const override { return ram.size(); }
    Result<void> read(uint64_t gpa, std::span<uint8_t> out) const override {
        if (gpa > ram.size() || out.size() > ram.size() - gpa) return Error("outside RAM");
        std::memcpy(out.data(), ram.data() + gpa, out.size());
        return ok();
    }
    bool dirty_log_active() const override { return log_on; }
    Result<void> start_dirty_log() override {
        if (log_on) return Error("dirty page tracking is already on");
        log_on = true;
        ++starts;
        bits.assign((ram.size() / kPage + 63) / 64, 0);
        return ok();
    }
    Result<std::vector<uint64_t>> sync_dirty_log() override {
        if (!log_on) return Error("dirty page tracking is off");
        if (fail_sync) return Error("KVM_GET_DIRTY_LOG: Bad address");
        return std::exchange(bits, std::vector<uint64_t>(bits.size()));
    }
    Result<void> stop_dirty_log() override {
        log_on = false;
        return ok();
    }
    // A guest write of one byte into every page in [first, first + n).
    void write_pages(uint64_t first, uint64_t n, uint8_t value) {
        for (uint64_t p = first; p < first + n; ++p) {
            ram[p * kPage + 100] = value;
            if (log_on) bits[p / 64] |= uint64_t{1} << (p % 64);
        }
    }

    std::vector<uint8_t> ram;
    std::vector<uint64_t> bits;
    bool log_on = false, fail_sync = false;
    int starts = 0;
};

DirtyRateRequest req(int64_t calc_time, std::optional<int64_t> pages = std::nullopt,
                     std::optional<DirtyRateMeasureMode> mode = std::nullopt) {
    return {calc_time, pages, mode};
}

std::string start_error(DirtyRateMeter& m, FakeMachine& f, const DirtyRateRequest& r) {
    Result<void> res = m.start(f, r, 5000);
    return res ? "" : res.error().message();
}

}  // namespace

TEST_CASE("dirty rate: before any measurement, QEMU's unstarted reply") {
    DirtyRateMeter m;
    api::DirtyRateInfo i = m.info();
    CHECK(i.status == DirtyRateStatus::Unstarted);
    CHECK(i.mode == DirtyRateMeasureMode::PageSampling);
    CHECK(i.start_time == 0);
    CHECK(i.calc_time == 0);
    CHECK(i.sample_pages == 0);
    CHECK_FALSE(i.dirty_rate);
    CHECK_FALSE(i.vcpu_dirty_rate);
}

TEST_CASE("dirty rate: argument checks in QEMU 7.2's order and words") {
    DirtyRateMeter m;
    FakeMachine f(64 << 20);
    CHECK(start_error(m, f, req(0)) == "calc-time is out of range[1, 60].");
    CHECK(start_error(m, f, req(61)) == "calc-time is out of range[1, 60].");
    CHECK(start_error(m, f, req(-1)) == "calc-time is out of range[1, 60].");
    // calc-time is checked before the mode and sample-pages.
    CHECK(start_error(m, f, req(0, 1, DirtyRateMeasureMode::DirtyRing)) ==
          "calc-time is out of range[1, 60].");
    CHECK(start_error(m, f, req(1, 100, DirtyRateMeasureMode::DirtyRing)) ==
          "either sample-pages or dirty-ring can be specified.");
    CHECK(start_error(m, f, req(1, 127)) == "sample-pages is out of range[128, 16384].");
    CHECK(start_error(m, f, req(1, 16385)) == "sample-pages is out of range[128, 16384].");
    CHECK(start_error(m, f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyRing)) ==
          "mode dirty-ring is not enabled, use other method instead.");
    CHECK(m.info().status == DirtyRateStatus::Unstarted);   // nothing changed
    CHECK(f.starts == 0);
    CHECK(start_error(m, f, req(60, 16384)) == "");
    CHECK(start_error(m, f, req(1)) == "the dirty rate is already being measured.");
    CHECK(start_error(m, f, req(0)) == "the dirty rate is already being measured.");
}

TEST_CASE("dirty rate: dirty-bitmap is refused while someone else owns the dirty log") {
    DirtyRateMeter m;
    FakeMachine f(16 << 20);
    REQUIRE(f.start_dirty_log());   // e.g. a migration
    std::string e = start_error(m, f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyBitmap));
    CHECK(e.find("dirty page tracking is in use") != std::string::npos);
    CHECK(f.log_on);                // left alone
    CHECK(f.starts == 1);
    CHECK_FALSE(m.measuring());
    // page-sampling does not touch the log, so it is allowed.
    CHECK(start_error(m, f, req(1)) == "");
}

TEST_CASE("dirty rate: dirty-bitmap counts the pages written during the period") {
    DirtyRateMeter m;
    FakeMachine f(64 << 20);
    f.write_pages(0, 100, 1);       // before: not counted
    REQUIRE(m.start(f, req(2, std::nullopt, DirtyRateMeasureMode::DirtyBitmap), 10'000));
    CHECK(f.log_on);
    api::DirtyRateInfo i = m.info();
    CHECK(i.status == DirtyRateStatus::Measuring);
    CHECK(i.mode == DirtyRateMeasureMode::DirtyBitmap);
    CHECK(i.start_time == 10);
    CHECK(i.calc_time == 2);
    CHECK(i.sample_pages == 512);   // QEMU shows the default while measuring
    CHECK_FALSE(i.dirty_rate);
    CHECK(m.period_ms() == 2000);
    f.write_pages(0, 4096, 2);      // 16 MiB
    f.write_pages(0, 4096, 3);      // the same pages again: counted once
    REQUIRE(m.finish(f, 12'000));
    CHECK_FALSE(f.log_on);
    i = m.info();
    CHECK(i.status == DirtyRateStatus::Measured);
    CHECK(*i.dirty_rate == 8);      // 16 MiB in 2 s
    CHECK(i.sample_pages == 0);
    CHECK(i.calc_time == 2);
    CHECK(i.start_time == 10);
}

TEST_CASE("dirty rate: dirty-bitmap of an idle guest is 0, and a late timer lengthens the period") {
    DirtyRateMeter m;
    FakeMachine f(64 << 20);
    REQUIRE(m.start(f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyBitmap), 0));
    REQUIRE(m.finish(f, 3'500));
    CHECK(*m.info().dirty_rate == 0);
    CHECK(m.info().calc_time == 3);
    // 255 pages are less than 1 MB: QEMU's integer MB truncates to 0.
    REQUIRE(m.start(f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyBitmap), 0));
    f.write_pages(0, 255, 9);
    REQUIRE(m.finish(f, 1000));
    CHECK(*m.info().dirty_rate == 0);
    REQUIRE(m.start(f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyBitmap), 0));
    f.write_pages(0, 256, 10);
    REQUIRE(m.finish(f, 1000));
    CHECK(*m.info().dirty_rate == 1);
}

TEST_CASE("dirty rate: a failed sync gives dirty-rate -1, the error, and the log off") {
    DirtyRateMeter m;
    FakeMachine f(16 << 20);
    REQUIRE(m.start(f, req(1, std::nullopt, DirtyRateMeasureMode::DirtyBitmap), 0));
    f.fail_sync = true;
    Result<void> r = m.finish(f, 1000);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "KVM_GET_DIRTY_LOG: Bad address");
    CHECK_FALSE(f.log_on);
    CHECK(m.info().status == DirtyRateStatus::Measured);
    CHECK(*m.info().dirty_rate == -1);
    CHECK_FALSE(m.measuring());
}

TEST_CASE("dirty rate: page-sampling sees changed pages, and only those") {
    FakeMachine f(256 << 20);
    uint64_t pages = f.ram.size() / kPage;
    SUBCASE("every page rewritten: the whole RAM per period") {
        DirtyRateMeter m;
        REQUIRE(m.start(f, req(4), 0));
        CHECK(m.info().sample_pages == 512);
        CHECK_FALSE(f.log_on);      // sampling leaves the dirty log alone
        f.write_pages(0, pages, 7);
        REQUIRE(m.finish(f, 4000));
        CHECK(*m.info().dirty_rate == 64);   // 256 MB / 4 s
        CHECK(m.info().sample_pages == 512);
    }
    SUBCASE("nothing written, or the same bytes written back: 0") {
        DirtyRateMeter m;
        REQUIRE(m.start(f, req(1, 16384), 0));
        f.write_pages(0, pages, 0);
        REQUIRE(m.finish(f, 1000));
        CHECK(*m.info().dirty_rate == 0);
    }
    SUBCASE("half of RAM written: about half the rate") {
        DirtyRateMeter m;
        REQUIRE(m.start(f, req(1, 16384), 0));   // 4096 samples
        f.write_pages(0, pages / 2, 1);
        REQUIRE(m.finish(f, 1000));
        CHECK(*m.info().dirty_rate >= 112);
        CHECK(*m.info().dirty_rate <= 144);
    }
}

TEST_CASE("dirty rate: page-sampling of RAM too small to sample fails as QEMU's (-1)") {
    DirtyRateMeter m;
    FakeMachine f(1 << 20);   // 1 MiB * 512 / GiB = 0 samples
    REQUIRE(m.start(f, req(1), 0));
    CHECK_FALSE(m.finish(f, 1000));
    CHECK(*m.info().dirty_rate == -1);
}

TEST_CASE("dirty rate: the page hash sees a change of any single word") {
    std::vector<uint8_t> page(kPage, 0x5a);
    uint64_t h = page_hash(page);
    CHECK(page_hash(page) == h);
    for (size_t off = 0; off < kPage; off += 8) {
        std::vector<uint8_t> p = page;
        p[off + 3] ^= 1;
        REQUIRE(page_hash(p) != h);
    }
    CHECK(count_dirty_pages({0, 0xff, uint64_t{1} << 63}) == 9);
}
