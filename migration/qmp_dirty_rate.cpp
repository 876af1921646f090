// QMP handlers of schema/dirty-rate.json: calc-dirty-rate starts a
// DirtyRateMeter measurement on the machine and arms a main-loop timer
// that ends it calc-time seconds later; query-dirty-rate reads the
// meter.  Nothing blocks: the monitor answers during the measurement.
#include <cstdio>

#include "qapi-commands-dirty-rate.h"
#include "vmm/context.h"

namespace molt::api {

using qmp::Context;

namespace {

// The machine as the meter sees it.
class MachineSource : public migration::DirtyRateSource {
public:
    explicit MachineSource(hw::Machine& m) : m_machine(m) {}
    uint64_t ram_bytes() const override { return m_machine.ram().size_bytes(); }
    // Pages are numbered by host offset, as the dirty bitmap numbers
    // them: RAM above 4 GiB follows low RAM without the hole.
    Result<void> read(uint64_t offset, std::span<uint8_t> out) const override {
        std::optional<uint64_t> gpa = m_machine.ram().gpa_of(offset);
        if (!gpa) return Error("RAM offset " + std::to_string(offset) + " is beyond guest RAM");
        return m_machine.ram().read(*gpa, out);
    }
    bool dirty_log_active() const override { return m_machine.dirty_log_active(); }
    Result<void> start_dirty_log() override { return m_machine.start_dirty_log(); }
    Result<std::vector<uint64_t>> sync_dirty_log() override { return m_machine.sync_dirty_log(); }
    Result<void> stop_dirty_log() override { return m_machine.stop_dirty_log(); }

private:
    hw::Machine& m_machine;
};

// The timer's expiry, on the main loop: the measurement ends.  A failure
// is reported here, at the top (STYLE.md 4), and shows as dirty-rate -1.
void finish_measurement(vmm::Vmm& vmm) {
    if (!vmm.machine) return;
    MachineSource source(*vmm.machine);
    Result<void> r = vmm.dirty_rate.finish(source, monotonic_ms());
    if (!r) std::fprintf(stderr, "molt: calc-dirty-rate: %s\n", r.error().message().c_str());
}

}  // namespace

Result<void> qmp_calc_dirty_rate(Context& ctx, int64_t calc_time, std::optional<int64_t> sample_pages,
                                 std::optional<DirtyRateMeasureMode> mode) {
    vmm::Vmm& vmm = ctx.vmm;
    if (!vmm.machine) return Error("the machine does not exist yet");
    if (!vmm.dirty_rate_timer) {
        Result<std::unique_ptr<Timer>> t = Timer::create(*vmm.loop, [&vmm] { finish_measurement(vmm); });
        if (!t) return t.error();
        vmm.dirty_rate_timer = std::move(*t);
    }
    MachineSource source(*vmm.machine);
    MOLT_TRY(vmm.dirty_rate.start(source, {calc_time, sample_pages, mode}, monotonic_ms()));
    Result<void> armed = vmm.dirty_rate_timer->start(vmm.dirty_rate.period_ms());
    if (!armed) {
        // Without a timer the measurement would never end: end it now.
        (void)vmm.dirty_rate.finish(source, monotonic_ms());
        return armed.error();
    }
    return ok();
}

Result<DirtyRateInfo> qmp_query_dirty_rate(Context& ctx) { return ctx.vmm.dirty_rate.info(); }

}  // namespace molt::api
