// The sending side of a live migration (migration/engine): precopy on a
// migration thread of its own.
//
//   setup     stream header; dirty tracking is already on (the caller)
//   pass 1    every page of guest RAM, zero pages as ZERO records
//   pass n    the pages dirtied during pass n-1, until what remains fits
//             the downtime limit at the bandwidth measured (or passes run
//             out: kMaxPasses)
//   switch    the main thread stops the guest and saves device state
//             (Hooks::stop_and_save); the last dirty pages, the device
//             sections and the end marker go out without a bandwidth cap
// cpr-transfer (OutgoingConfig::cpr) turns this around: the guest stops
// first, the CPR state (guest RAM's memfds, ...) goes over the cpr
// channel, the source half-closes it and waits for the new process to
// hang up - it has adopted the fds and listens on the main channel - and
// only then connects the main channel, which carries no RAM
// (x-ignore-shared), just the device sections.
// Progress (Stats) is published under a lock for query-migrate and the
// MIGRATION_PASS events; the main thread learns of changes through
// Hooks::wake.  Any error (a write failing, cancel) ends the thread with
// that Error; the caller then resumes the guest if it stopped it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "hw/machine.h"
#include "migration/engine/channel.h"
#include "migration/cpr_state.h"
#include "migration/engine/ram_transfer.h"
#include "migration/engine/shared_ram.h"
#include "migration/stream/records.h"
#include "migration/stream/writer.h"
#include "runtime/result.h"

namespace molt::migration {

struct DeviceSection {
    stream::SectionInfo info;
    std::string payload;
    std::vector<UniqueFd> fds;   // sent with it (SCM_RIGHTS; tap_transfer.h)
};

struct OutgoingConfig {
    uint64_t max_bandwidth = 0;        // bytes/s while the guest runs (0: no cap)
    uint64_t downtime_limit_ms = 300;
    // auto-converge: throttle the guest when it dirties more than
    // trigger_threshold % of what a pass sends, twice in a row; start at
    // throttle_initial %, then add throttle_increment up to max_throttle.
    bool auto_converge = false;
    int trigger_threshold = 50;
    int throttle_initial = 20;
    int throttle_increment = 10;
    int max_throttle = 99;
    // multifd: RAM over this many channels of their own (multifd.h);
    // 0: on the main channel.
    uint32_t multifd_channels = 0;
    // x-ignore-shared with guest RAM in shared memory: no RAM is sent, the
    // destination maps the same memory (shared_ram.h).
    std::optional<SharedRamId> ignore_shared;
    // cpr-transfer: the cpr channel's UNIX socket path and what goes over
    // it; the main channel is then opened with Hooks::connect after the
    // hand-over (the Channel given to the constructor is unused).
    struct Cpr {
        std::string path;
        std::shared_ptr<CprState> state;
    };
    std::optional<Cpr> cpr;
    // Stop the guest before any RAM is sent (cpr-reboot): one pass, the
    // guest's state as it was at the stop.
    bool stop_first = false;
};

struct OutgoingStats {
    uint64_t transferred = 0;          // stream bytes
    uint64_t remaining = 0;            // bytes of RAM still dirty
    uint64_t total = 0;                // guest RAM bytes
    uint64_t duplicate = 0;            // zero pages
    uint64_t normal = 0;               // pages sent with data
    uint64_t dirty_sync_count = 0;
    uint64_t dirty_pages_rate = 0;     // pages/s in the last pass
    double mbps = 0;                   // megabits/s in the last pass
    uint64_t pass = 0;
    uint64_t expected_downtime_ms = 0;
    uint64_t precopy_bytes = 0;
    uint64_t downtime_bytes = 0;
    uint64_t setup_ms = 0;
    int cpu_throttle = 0;              // auto-converge's current percentage
};

class Outgoing {
public:
    static constexpr uint64_t kMaxPasses = 30;
    // How long the source waits for the destination's verdict (verdict.h).
    static constexpr int kVerdictTimeoutMs = 60000;
    // After a write failed: how long the reason the destination gives (it
    // refused the stream, then hung up) may take to come back.  Only a
    // live but silent peer makes this wait its whole length.
    static constexpr int kReasonWaitMs = 2000;

    struct Hooks {
        // Migration thread: has the main thread stop the guest and save
        // the device state, and waits for it.
        std::function<Result<std::vector<DeviceSection>>()> stop_and_save;
        // Any thread: something changed (stats, a pass, the end).
        std::function<void()> wake;
        // Migration thread: throttle the guest to `percent` (auto-converge).
        std::function<void(int percent)> throttle;
        // Migration thread, multifd and cpr-transfer: one more connection
        // to the destination's main address.
        std::function<Result<Channel>()> connect;
    };

    Outgoing(hw::Machine& machine, Channel channel, OutgoingConfig config, Hooks hooks);
    ~Outgoing();   // cancels and joins

    void start();
    // Asks the thread to stop; it ends with an Error soon after.
    void cancel();
    bool finished() const { return m_finished.load(std::memory_order_acquire); }
    // Once finished(): how it ended.
    std::optional<Error> error() const;
    // Once finished() with an error: the stream went whole but the
    // destination's verdict was not learnt (src-verdict) - it may run the
    // guest, so this side must not resume it.
    bool in_doubt() const { return m_in_doubt.load(); }
    // In doubt: the main channel, still open, for the caller to keep.
    UniqueFd held_channel() { return std::move(m_held); }
    OutgoingStats stats() const;

private:
    void run();
    Result<void> migrate();
    // Everything up to the end marker; return_path: ask for the verdict.
    // `saved`: the device state when the guest was stopped already.
    Result<void> send_stream(stream::StreamWriter& w, bool return_path,
                             std::optional<std::vector<DeviceSection>> saved);
    // cpr-transfer: stops the guest, hands the fds over, opens the main
    // channel; the device state saved at the stop.
    Result<std::vector<DeviceSection>> hand_over();
    // The passes while the guest runs, until the rest fits the downtime
    // limit; leaves the pages still dirty in m_dirty.
    Result<void> precopy(stream::StreamWriter& w, RateLimiter& limiter);
    // multifd: announces the channels on the main stream, connects them
    // and sends their handshakes.
    Result<void> open_lanes(stream::StreamWriter& main);
    uint64_t position(const stream::StreamWriter& main) const;
    // Sends `dirty` over the RAM channels in parallel, one thread each.
    Result<SendProgress> send_over_lanes(const std::vector<uint64_t>& dirty, const SendProgressFn& progress);
    // Sends one pass; returns its duration in seconds.
    Result<double> send_pass(stream::StreamWriter& w, const std::vector<uint64_t>& dirty,
                             RateLimiter& limiter, bool precopy);
    void publish(const OutgoingStats& s);
    // auto-converge after a pass that sent `sent` bytes and left `dirty`.
    void converge(uint64_t sent, uint64_t dirty, OutgoingStats& s);
    int m_high_dirty_passes = 0;
    std::vector<uint64_t> m_dirty;   // pages to send in the next pass (migration thread)

    hw::Machine& m_machine;
    Channel m_channel;
    OutgoingConfig m_config;
    Hooks m_hooks;
    std::atomic<int> m_raw_fd{-1};   // to shut the channel down on cancel
    struct Lane {
        std::unique_ptr<stream::StreamWriter> writer;
        RateLimiter limiter{0};
        int raw_fd = -1;
    };
    std::vector<Lane> m_lanes;   // multifd's RAM channels (migration thread; fds under m_lock)
    std::atomic<bool> m_cancel{false};
    std::atomic<bool> m_finished{false};
    std::atomic<bool> m_in_doubt{false};
    UniqueFd m_held;   // (set by the migration thread before m_finished)
    mutable std::mutex m_lock;
    OutgoingStats m_stats;
    std::optional<Error> m_error;
    std::thread m_thread;
};

}  // namespace molt::migration
