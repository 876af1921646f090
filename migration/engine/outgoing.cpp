// Outgoing; see outgoing.h.
#include "migration/engine/outgoing.h"

#include <pthread.h>
#include <sys/socket.h>

#include <chrono>

namespace molt::migration {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

Outgoing::Outgoing(hw::Machine& machine, Channel channel, OutgoingConfig config, Hooks hooks)
    : m_machine(machine), m_channel(std::move(channel)), m_config(config), m_hooks(std::move(hooks)) {
    m_raw_fd = m_channel.fd.get();
    m_stats.total = m_machine.ram_bytes();
    m_stats.remaining = m_stats.total;   // nothing sent yet
}

Outgoing::~Outgoing() {
    cancel();
    if (m_thread.joinable()) m_thread.join();
}

void Outgoing::start() {
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "live_migration");
        run();
    });
}

void Outgoing::cancel() {
    m_cancel.store(true, std::memory_order_relaxed);
    // A write blocked on a full socket returns at once.
    if (m_raw_fd >= 0 && !finished()) shutdown(m_raw_fd, SHUT_RDWR);
}

std::optional<Error> Outgoing::error() const {
    std::lock_guard guard(m_lock);
    return m_error;
}

OutgoingStats Outgoing::stats() const {
    std::lock_guard guard(m_lock);
    return m_stats;
}

void Outgoing::publish(const OutgoingStats& s) {
    {
        std::lock_guard guard(m_lock);
        m_stats = s;
    }
    m_hooks.wake();
}

void Outgoing::run() {
    Result<void> r = migrate();
    {
        std::lock_guard guard(m_lock);
        if (!r) m_error = r.error();
    }
    m_finished.store(true, std::memory_order_release);
    m_hooks.wake();
}

Result<double> Outgoing::send_pass(stream::StreamWriter& w, const std::vector<uint64_t>& dirty,
                                   RateLimiter& limiter, bool precopy) {
    Clock::time_point start = Clock::now();
    std::span<const uint8_t> ram = m_machine.ram_view();
    const OutgoingStats base = stats();
    // The figures with what the pass sent so far: published during the
    // pass (every kProgressPages) and at its end.
    auto with = [&](const SendProgress& p) {
        double took = std::max(seconds_since(start), 1e-6);
        OutgoingStats s = base;
        s.transferred += p.bytes;
        s.duplicate += p.zero_pages;
        s.normal += p.pages - p.zero_pages;
        s.remaining -= std::min(s.remaining, p.pages * stream::kPageBytes);
        (precopy ? s.precopy_bytes : s.downtime_bytes) += p.bytes;
        s.mbps = static_cast<double>(p.bytes) * 8 / 1e6 / took;
        s.dirty_pages_rate = static_cast<uint64_t>(static_cast<double>(p.pages) / took);
        return s;
    };
    SendProgress p = MOLT_TRY(send_dirty_pages(w, ram, dirty, limiter, m_cancel,
                                               [&](const SendProgress& q) { publish(with(q)); }));
    double took = std::max(seconds_since(start), 1e-6);
    publish(with(p));
    return took;
}

void Outgoing::converge(uint64_t sent, uint64_t dirty, OutgoingStats& s) {
    if (!m_config.auto_converge) return;
    uint64_t threshold = sent * static_cast<uint64_t>(m_config.trigger_threshold) / 100;
    if (dirty <= threshold) return;
    if (++m_high_dirty_passes < 2) return;
    m_high_dirty_passes = 0;
    s.cpu_throttle = s.cpu_throttle == 0
        ? m_config.throttle_initial
        : std::min(s.cpu_throttle + m_config.throttle_increment, m_config.max_throttle);
    if (m_hooks.throttle) m_hooks.throttle(s.cpu_throttle);
}

Result<void> Outgoing::migrate() {
    Clock::time_point setup_start = Clock::now();
    stream::StreamWriter w(std::move(m_channel.fd));
    MOLT_TRY(w.write_header());
    RateLimiter limiter(m_config.max_bandwidth);
    OutgoingStats s = stats();
    s.setup_ms = static_cast<uint64_t>(seconds_since(setup_start) * 1000);
    s.remaining = s.total;
    publish(s);

    // (Results of vectors are checked by hand: GCC 12 warns falsely
    // through MOLT_TRY there.)
    std::vector<uint64_t> dirty = all_pages(m_machine.ram_bytes());
    // The first sync clears what was logged before pass 1 read the pages.
    Result<std::vector<uint64_t>> synced = m_machine.sync_dirty_log();
    if (!synced) return synced.error();
    for (uint32_t pass = 1;; ++pass) {
        uint64_t before = w.position();
        double took = MOLT_TRY(send_pass(w, dirty, limiter, true));
        MOLT_TRY(w.write_iteration_end(pass));
        double bytes_per_ms = static_cast<double>(w.position() - before) / (took * 1000);
        synced = m_machine.sync_dirty_log();
        if (!synced) return synced.error();
        dirty = std::move(*synced);
        s = stats();
        s.pass = pass;
        s.dirty_sync_count = pass;
        s.remaining = count_pages(dirty) * stream::kPageBytes;
        s.expected_downtime_ms = bytes_per_ms > 0
            ? static_cast<uint64_t>(static_cast<double>(s.remaining) / bytes_per_ms) : 0;
        if (pass >= 2) converge(w.position() - before, s.remaining, s);
        publish(s);
        if (s.expected_downtime_ms <= m_config.downtime_limit_ms || pass >= kMaxPasses) break;
    }

    Result<std::vector<DeviceSection>> sections = m_hooks.stop_and_save();
    if (!sections) return sections.error();
    limiter.set_rate(0);   // the guest is paused: as fast as the channel goes
    // What the last pass left dirty, and what the guest wrote since.
    synced = m_machine.sync_dirty_log();
    if (!synced) return synced.error();
    for (size_t i = 0; i < dirty.size() && i < synced->size(); ++i) dirty[i] |= (*synced)[i];
    MOLT_TRY(send_pass(w, dirty, limiter, false));
    for (const DeviceSection& d : *sections) {
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(d.payload.data()), d.payload.size());
        MOLT_TRY(w.write_section(d.info, bytes));
    }
    MOLT_TRY(w.write_end());
    s = stats();
    s.transferred = w.position();
    s.remaining = 0;
    publish(s);
    return ok();
}

}  // namespace molt::migration
