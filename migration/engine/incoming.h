// The receiving side of a migration (migration/engine): a thread reads the
// stream into guest RAM and collects the device sections; the main thread
// then loads the device state (it owns the machine and the run state).
// Nothing here runs the guest: on any error the caller discards what
// arrived (exit, or a failed migration with the guest never started).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "migration/engine/multifd.h"
#include "migration/engine/prefault.h"
#include "migration/engine/shared_ram.h"
#include "migration/engine/tap_transfer.h"
#include "migration/stream/reader.h"
#include "migration/stream/records.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

class Incoming {
public:
    // ram: the destination's guest RAM, not running.  listener: where
    // multifd RAM channels connect (-1: none; the caller keeps it open
    // until this is gone).  shared: ram's identity when it is shared
    // memory (x-ignore-shared).  wake: any thread, when finished (or
    // progress).
    Incoming(std::span<uint8_t> ram, UniqueFd fd, int listener, std::optional<SharedRamId> shared,
             std::function<void()> wake);
    ~Incoming();   // joins (a blocked read ends when the fd is shut down)

    void start();
    // Ends a blocked read (exit, cancel).
    void abort();
    bool finished() const { return m_finished.load(std::memory_order_acquire); }
    std::optional<Error> error() const;
    uint64_t bytes() const;
    // Once finished without error: the device sections, in stream order.
    std::vector<stream::SectionRecord> take_sections();
    // Once finished without error: the TAPs that came with the stream
    // (backend-transfer in mode normal; tap_transfer.h).
    std::vector<ReceivedTap> take_taps();
    // Once finished: whether the source waits for a verdict (verdict.h),
    // and sending it (main thread; OK when error is nullopt).
    bool wants_verdict() const { return m_return_path; }
    Result<void> send_verdict(const std::optional<std::string>& error);

    // What the receiving thread keeps of a stream until the main thread
    // takes it: a machine has a handful of device sections (vm/status,
    // cpu/0, kvm/0, serial/com1, one per virtio-net device; kMaxVirtioDevices
    // is 8), each checked against the stream's 16 MiB section limit; a
    // stream that sends more, or more bytes in all, fails here instead of
    // filling memory before decode_vm() would refuse it.
    static constexpr size_t kMaxDeviceSections = 64;
    static constexpr size_t kMaxDeviceStateBytes = size_t{64} << 20;

private:
    static constexpr int kLaneAcceptMs = 30000;
    void run();
    Result<void> receive();
    Result<void> receive_from(stream::StreamReader& reader);
    Result<void> start_lanes(const stream::SectionRecord& section);

    std::span<uint8_t> m_ram;
    UniqueFd m_fd;
    int m_raw_fd;
    int m_listener;
    bool m_return_path = false;   // set by the thread before finished()
    std::optional<SharedRamId> m_shared;
    // Made by the thread for the stream's time; outlives the lanes using it.
    std::unique_ptr<Prefaulter> m_prefault;
    std::unique_ptr<IncomingLanes> m_lanes;   // multifd; made by the thread
    std::atomic<IncomingLanes*> m_lanes_seen{nullptr};
    std::function<void()> m_wake;
    std::atomic<bool> m_finished{false};
    std::atomic<uint64_t> m_bytes{0};
    mutable std::mutex m_lock;
    std::optional<Error> m_error;
    std::vector<stream::SectionRecord> m_sections;
    size_t m_section_bytes = 0;
    std::vector<ReceivedTap> m_taps;
    std::thread m_thread;
};

}  // namespace molt::migration
