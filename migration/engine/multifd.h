// Parallel RAM channels (migration/engine), QEMU's multifd: with the
// multifd capability the source opens multifd-channels more connections to
// the destination's address and sends guest RAM over them in parallel, one
// thread each; the main channel keeps the rest of the stream (passes,
// device state, end).
//
// Handshake, in sections (docs/migration-stream.md):
//   main channel, first record   "migration/multifd": session, channels
//   each RAM channel, first      "migration/multifd-channel": session, index
// A RAM channel is a stream of its own (header, RAM records, end marker),
// checked as any stream is.  The session (random) ties the channels to one
// migration; an index twice, out of range or another session is refused.
//
// Order: every page always travels on the same channel (2 MiB chunks of
// RAM dealt round-robin), so a page sent again in a later pass can never
// overtake its older copy.  The destination loads the device state only
// after every channel has ended, so the guest never runs on partial RAM.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "migration/engine/prefault.h"
#include "migration/stream/records.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

inline constexpr std::string_view kMultifdSection = "migration/multifd";
inline constexpr std::string_view kMultifdChannelSection = "migration/multifd-channel";
inline constexpr uint64_t kLaneChunkPages = 512;   // 2 MiB

struct MultifdHello {
    uint64_t session = 0;
    uint32_t channels = 0;   // main: how many; a RAM channel: its index
};

stream::SectionInfo multifd_section_info(bool channel);
std::vector<uint8_t> encode_hello(const MultifdHello& h);
Result<MultifdHello> decode_hello(const std::vector<uint8_t>& payload);

// A random session number.
uint64_t new_session();

// The pages of `dirty` that channel `lane` of `lanes` carries.
std::vector<uint64_t> lane_pages(const std::vector<uint64_t>& dirty, size_t lane, size_t lanes);

// The destination's RAM channels: accepts them on the listener, then
// receives each on a thread of its own ("mig/dst/recv_N").
class IncomingLanes {
public:
    // prefault (may be null) is told of the data the channels write.
    IncomingLanes(std::span<uint8_t> ram, Prefaulter* prefault, std::function<void()> on_failure)
        : m_ram(ram), m_prefault(prefault), m_on_failure(std::move(on_failure)) {}
    ~IncomingLanes();   // aborts and joins

    // Accepts hello.channels connections on `listener` (within
    // timeout_ms in all) and starts receiving on them.
    // main_fd: the main channel; its hang-up ends the wait (-1: none).
    Result<void> start(int listener, const MultifdHello& hello, int timeout_ms, int main_fd = -1);
    // Ends blocked reads and a blocked accept (any thread).
    void abort();
    // Waits until every channel has ended; the first Error, if any.
    Result<void> join();
    uint64_t bytes() const { return m_bytes.load(std::memory_order_relaxed); }

private:
    void receive(size_t slot, UniqueFd fd);
    Result<void> receive_lane(UniqueFd fd);
    void fail(Error e);

    std::span<uint8_t> m_ram;
    Prefaulter* m_prefault;
    std::function<void()> m_on_failure;
    MultifdHello m_hello;
    std::atomic<bool> m_aborted{false};
    std::atomic<int> m_listener{-1};
    std::atomic<uint64_t> m_bytes{0};
    std::mutex m_lock;
    std::vector<UniqueFd> m_fds;         // dups of the channels, to shut them down
    std::vector<bool> m_seen;            // indexes that said hello
    std::optional<Error> m_error;
    std::vector<std::thread> m_threads;
};

}  // namespace molt::migration
