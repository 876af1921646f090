// Outgoing; see outgoing.h.
#include "migration/engine/outgoing.h"

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "migration/engine/multifd.h"
#include "migration/engine/verdict.h"
#include "runtime/fault_inject.h"
#include "runtime/socket.h"

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
    int fd = m_raw_fd.load();
    if (fd >= 0 && !finished()) shutdown(fd, SHUT_RDWR);
    std::lock_guard guard(m_lock);
    for (const Lane& l : m_lanes) shutdown(l.raw_fd, SHUT_RDWR);   // open until this goes
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
    SendProgressFn progress = [&](const SendProgress& q) { publish(with(q)); };
    SendProgress p = m_lanes.empty()
        ? MOLT_TRY(send_dirty_pages(w, ram, dirty, limiter, m_cancel, progress))
        : MOLT_TRY(send_over_lanes(dirty, progress));
    double took = std::max(seconds_since(start), 1e-6);
    publish(with(p));
    return took;
}

Result<void> Outgoing::open_lanes(stream::StreamWriter& main) {
    uint32_t n = m_config.multifd_channels;
    if (n == 0) return ok();
    if (!m_hooks.connect) return Error("multifd: no way to open more channels");
    MultifdHello hello{new_session(), n};
    std::vector<uint8_t> payload = encode_hello(hello);
    MOLT_TRY(main.write_section(multifd_section_info(false), payload));
    MOLT_TRY(main.flush());
    // Each channel gets its share of max-bandwidth.
    uint64_t share = m_config.max_bandwidth == 0 ? 0 : std::max<uint64_t>(1, m_config.max_bandwidth / n);
    for (uint32_t i = 0; i < n; ++i) {
        Result<Channel> c = m_hooks.connect();
        if (!c) return Error(c.error()).with_context("multifd channel " + std::to_string(i));
        int raw_fd = c->fd.get();   // before the writer takes it
        Lane lane{std::make_unique<stream::StreamWriter>(std::move(c->fd)), RateLimiter(share), raw_fd};
        {
            std::lock_guard guard(m_lock);
            m_lanes.push_back(std::move(lane));
        }
        // A cancel that came before the channel was listed.
        if (m_cancel.load()) return Error("migration cancelled");
        stream::StreamWriter& w = *m_lanes.back().writer;
        MOLT_TRY(w.write_header());
        MOLT_TRY(w.write_section(multifd_section_info(true), encode_hello({hello.session, i})));
    }
    return ok();
}

uint64_t Outgoing::position(const stream::StreamWriter& main) const {
    uint64_t p = main.position();
    for (const Lane& l : m_lanes) p += l.writer->position();
    return p;
}

Result<SendProgress> Outgoing::send_over_lanes(const std::vector<uint64_t>& dirty,
                                               const SendProgressFn& progress) {
    std::span<const uint8_t> ram = m_machine.ram_view();
    size_t n = m_lanes.size();
    std::mutex lock;
    std::vector<SendProgress> sent(n);
    std::optional<Error> failure;
    auto total = [&sent] {
        SendProgress t;
        for (const SendProgress& s : sent) {
            t.pages += s.pages;
            t.zero_pages += s.zero_pages;
            t.bytes += s.bytes;
        }
        return t;
    };
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            std::string name = "mig/src/send_" + std::to_string(i);
            pthread_setname_np(pthread_self(), name.c_str());
            auto report = [&, i](const SendProgress& q) {
                SendProgress t;
                {
                    std::lock_guard guard(lock);
                    sent[i] = q;
                    t = total();
                }
                progress(t);
            };
            Result<SendProgress> r = send_dirty_pages(*m_lanes[i].writer, ram, lane_pages(dirty, i, n),
                                                      m_lanes[i].limiter, m_cancel, report);
            std::lock_guard guard(lock);
            if (r) {
                sent[i] = *r;
            } else if (!failure) {
                failure = Error(r.error()).with_context("multifd channel " + std::to_string(i));
                // The other channels stop too.
                for (const Lane& l : m_lanes) shutdown(l.raw_fd, SHUT_RDWR);
            }
        });
    }
    for (std::thread& t : threads) t.join();
    if (failure) return *failure;
    return total();
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

Result<void> Outgoing::precopy(stream::StreamWriter& w, RateLimiter& limiter) {
    OutgoingStats s;
    // (Results of vectors are checked by hand: GCC 12 warns falsely
    // through MOLT_TRY there.)
    m_dirty = all_pages(m_machine.ram_bytes());
    // The first sync clears what was logged before pass 1 read the pages.
    Result<std::vector<uint64_t>> synced = m_machine.sync_dirty_log();
    if (!synced) return synced.error();
    for (uint32_t pass = 1;; ++pass) {
        MOLT_TRY(fault::check("src-ram"));
        uint64_t before = position(w);
        double took = MOLT_TRY(send_pass(w, m_dirty, limiter, true));
        MOLT_TRY(w.write_iteration_end(pass));
        uint64_t sent = position(w) - before;
        double bytes_per_ms = static_cast<double>(sent) / (took * 1000);
        synced = m_machine.sync_dirty_log();
        if (!synced) return synced.error();
        m_dirty = std::move(*synced);
        s = stats();
        s.pass = pass;
        s.dirty_sync_count = pass;
        s.remaining = count_pages(m_dirty) * stream::kPageBytes;
        s.expected_downtime_ms = bytes_per_ms > 0
            ? static_cast<uint64_t>(static_cast<double>(s.remaining) / bytes_per_ms) : 0;
        if (pass >= 2) converge(sent, s.remaining, s);
        publish(s);
        if (s.expected_downtime_ms <= m_config.downtime_limit_ms || pass >= kMaxPasses) return ok();
    }
}

Result<std::vector<DeviceSection>> Outgoing::hand_over() {
    Result<std::vector<DeviceSection>> sections = m_hooks.stop_and_save();
    if (!sections) return sections.error();
    const OutgoingConfig::Cpr& cpr = *m_config.cpr;
    MOLT_TRY(fault::check("cpr-connect"));
    Result<UniqueFd> sock = connect_unix(cpr.path);
    if (!sock) return Error(sock.error()).with_context("cpr channel unix:" + cpr.path);
    // The guest's memory goes only to a process of this user.
    Result<void> same = check_peer_is_same_user(sock->get());
    if (!same) return Error(same.error()).with_context("cpr channel unix:" + cpr.path);
    m_raw_fd.store(sock->get());
    if (m_cancel.load()) return Error("migration cancelled");
    MOLT_TRY(fault::check("cpr-send-state"));
    MOLT_TRY(cpr.state->send(sock->get()));
    // Half-closed: the new process reads to the end, adopts the fds,
    // listens on the main address, then hangs up.
    if (shutdown(sock->get(), SHUT_WR) != 0) return Error::from_errno(errno, "cpr channel");
    Result<void> hung_up = wait_for_hang_up(sock->get(), kVerdictTimeoutMs);
    if (!hung_up) return Error(hung_up.error()).with_context("cpr channel");
    if (m_cancel.load()) return Error("migration cancelled");
    Result<Channel> main = m_hooks.connect();
    if (!main) return Error(main.error()).with_context("main channel");
    m_channel = std::move(*main);
    m_raw_fd.store(m_channel.fd.get());
    if (m_cancel.load()) return Error("migration cancelled");
    return sections;
}

Result<void> Outgoing::migrate() {
    std::optional<std::vector<DeviceSection>> saved;
    if (m_config.cpr || m_config.stop_first) {
        Result<std::vector<DeviceSection>> s = m_config.cpr ? hand_over() : m_hooks.stop_and_save();
        if (!s) return s.error();
        saved = std::move(*s);
    }
    stream::StreamWriter w(std::move(m_channel.fd));
    bool return_path = is_socket(m_raw_fd);
    Result<void> r = send_stream(w, return_path, std::move(saved));
    if (r && return_path) {
        UniqueFd fd = w.release_fd();
        // The whole stream went: from here the destination may run the
        // guest.  Not learning its verdict for a reason on this side
        // leaves the outcome in doubt - the guest must not run here too.
        Result<void> step = fault::check("src-verdict");
        if (!step) {
            // The connection stays open (held_channel()): closing it could
            // make the destination's OK fail to send, and then neither
            // side would run the guest.
            m_in_doubt.store(true);
            m_held = std::move(fd);
            return step;
        }
        return await_verdict(fd.get(), kVerdictTimeoutMs);
    }
    if (!r && return_path && !m_cancel.load()) {
        // A destination that refused the stream half-way said why before
        // it hung up (the write error here is only the consequence).
        Result<void> said = await_verdict(m_raw_fd, kReasonWaitMs);
        if (!said && said.error().message().rfind("the destination refused", 0) == 0) return said.error();
    }
    return r;
}

Result<void> Outgoing::send_stream(stream::StreamWriter& w, bool return_path,
                                   std::optional<std::vector<DeviceSection>> saved) {
    Clock::time_point setup_start = Clock::now();
    MOLT_TRY(w.write_header());
    MOLT_TRY(fault::check("src-header"));
    if (return_path) MOLT_TRY(w.write_section(return_path_section_info(), {}));
    MOLT_TRY(open_lanes(w));
    RateLimiter limiter(m_config.max_bandwidth);
    OutgoingStats s = stats();
    s.setup_ms = static_cast<uint64_t>(seconds_since(setup_start) * 1000);
    s.remaining = s.total;
    publish(s);

    if (m_config.ignore_shared) {
        // The destination maps the same memory: no RAM passes at all.
        MOLT_TRY(w.write_section(shared_ram_section_info(), encode_shared_ram(*m_config.ignore_shared)));
        s.remaining = 0;
        publish(s);
    } else {
        MOLT_TRY(precopy(w, limiter));
    }
    Result<std::vector<DeviceSection>> sections = saved ? std::move(*saved) : m_hooks.stop_and_save();
    if (!sections) return sections.error();
    if (!m_config.ignore_shared) {
        limiter.set_rate(0);   // the guest is paused: as fast as the channels go
        for (Lane& l : m_lanes) l.limiter.set_rate(0);
        // What the last pass left dirty, and what the guest wrote since.
        Result<std::vector<uint64_t>> synced = m_machine.sync_dirty_log();
        if (!synced) return synced.error();
        for (size_t i = 0; i < m_dirty.size() && i < synced->size(); ++i) m_dirty[i] |= (*synced)[i];
        MOLT_TRY(send_pass(w, m_dirty, limiter, false));
    }
    for (Lane& l : m_lanes) MOLT_TRY(l.writer->write_end());
    for (const DeviceSection& d : *sections) {
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(d.payload.data()), d.payload.size());
        std::vector<int> fds;
        for (const UniqueFd& fd : d.fds) fds.push_back(fd.get());
        MOLT_TRY(fault::check("src-section"));
        MOLT_TRY(w.write_section(d.info, bytes, fds));
    }
    MOLT_TRY(fault::check("src-end"));
    MOLT_TRY(w.write_end());
    s = stats();
    s.transferred = position(w);
    s.remaining = 0;
    publish(s);
    return ok();
}

}  // namespace molt::migration
