// Parallel RAM channels; see multifd.h.
#include "migration/engine/multifd.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "migration/engine/ram_transfer.h"
#include "migration/stream/reader.h"
#include "runtime/socket.h"

namespace molt::migration {

namespace {

constexpr size_t kHelloBytes = 12;   // le64 session, le32 channels/index
// The channel count a source may announce: QEMU's multifd-channels range
// (1..255), which schema/migration.json's multifd parameter shares.
constexpr uint32_t kMaxChannels = 255;

}  // namespace

stream::SectionInfo multifd_section_info(bool channel) {
    return {std::string(channel ? kMultifdChannelSection : kMultifdSection), 0, 1, 1};
}

std::vector<uint8_t> encode_hello(const MultifdHello& h) {
    std::vector<uint8_t> out(kHelloBytes);
    for (size_t i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(h.session >> (8 * i));
    for (size_t i = 0; i < 4; ++i) out[8 + i] = static_cast<uint8_t>(h.channels >> (8 * i));
    return out;
}

Result<MultifdHello> decode_hello(const std::vector<uint8_t>& payload) {
    if (payload.size() != kHelloBytes) {
        return Error("multifd: a handshake of " + std::to_string(payload.size()) + " bytes, expected " +
                     std::to_string(kHelloBytes));
    }
    MultifdHello h;
    for (size_t i = 0; i < 8; ++i) h.session |= uint64_t{payload[i]} << (8 * i);
    for (size_t i = 0; i < 4; ++i) h.channels |= uint32_t{payload[8 + i]} << (8 * i);
    return h;
}

uint64_t new_session() {
    std::random_device rd;
    return (uint64_t{rd()} << 32) | rd();
}

std::vector<uint64_t> lane_pages(const std::vector<uint64_t>& dirty, size_t lane, size_t lanes) {
    constexpr size_t kWordsPerChunk = kLaneChunkPages / 64;
    std::vector<uint64_t> out(dirty.size(), 0);
    for (size_t chunk = lane; chunk * kWordsPerChunk < dirty.size(); chunk += lanes) {
        size_t first = chunk * kWordsPerChunk;
        size_t last = std::min(first + kWordsPerChunk, dirty.size());
        for (size_t w = first; w < last; ++w) out[w] = dirty[w];
    }
    return out;
}

IncomingLanes::~IncomingLanes() {
    abort();
    for (std::thread& t : m_threads) t.join();
}

Result<void> IncomingLanes::start(int listener, const MultifdHello& hello, int timeout_ms, int main_fd) {
    if (hello.channels == 0 || hello.channels > kMaxChannels) {
        return Error("multifd: " + std::to_string(hello.channels) + " channels announced (1 to " +
                     std::to_string(kMaxChannels) + ")");
    }
    if (listener < 0) {
        return Error("multifd: the source sends RAM over several channels, but this destination "
                     "does not listen on a socket");
    }
    m_hello = hello;
    m_seen.assign(hello.channels, false);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (uint32_t i = 0; i < hello.channels; ++i) {
        while (true) {
            if (m_aborted.load()) return Error("multifd: cancelled while accepting the channels");
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) {
                return Error("multifd: " + std::to_string(i) + " of " + std::to_string(hello.channels) +
                             " channels connected in time");
            }
            // A source that gave up (its channel failed to connect) hangs
            // up the main channel: no need to wait out the deadline.
            pollfd p[2] = {{listener, POLLIN, 0}, {main_fd, POLLRDHUP, 0}};
            // Short waits, so that abort() is noticed.
            int r = ::poll(p, main_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left, 100)));
            if (r < 0 && errno != EINTR) return Error::from_errno(errno, "multifd: poll");
            if (r > 0 && main_fd >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                return Error("multifd: the source hung up while its channels were connecting (" +
                             std::to_string(i) + " of " + std::to_string(hello.channels) + " connected)");
            }
            if (r <= 0 || !(p[0].revents & POLLIN)) continue;
            UniqueFd conn = MOLT_TRY(accept_connection(listener));
            if (!conn) continue;
            UniqueFd mine(dup(conn.get()));   // kept for abort()'s shutdown
            if (!mine) return Error::from_errno(errno, "multifd: dup");
            std::lock_guard guard(m_lock);
            m_fds.push_back(std::move(mine));
            size_t slot = m_threads.size();
            m_threads.emplace_back([this, slot, c = std::move(conn)]() mutable { receive(slot, std::move(c)); });
            break;
        }
    }
    return ok();
}

void IncomingLanes::abort() {
    m_aborted.store(true);
    std::lock_guard guard(m_lock);
    for (const UniqueFd& fd : m_fds) shutdown(fd.get(), SHUT_RDWR);
}

Result<void> IncomingLanes::join() {
    for (std::thread& t : m_threads) t.join();
    m_threads.clear();
    std::lock_guard guard(m_lock);
    if (m_error) return *m_error;
    return ok();
}

void IncomingLanes::receive(size_t slot, UniqueFd fd) {
    std::string name = "mig/dst/recv_" + std::to_string(slot);
    pthread_setname_np(pthread_self(), name.c_str());
    Result<void> r = receive_lane(std::move(fd));
    if (!r) fail(Error(r.error()).with_context("multifd channel " + std::to_string(slot)));
}

void IncomingLanes::fail(Error e) {
    {
        std::lock_guard guard(m_lock);
        if (m_error) return;
        m_error = std::move(e);
    }
    abort();
    m_on_failure();
}

Result<void> IncomingLanes::receive_lane(UniqueFd fd) {
    stream::StreamReader reader(std::move(fd), {m_ram.size(), stream::kHostArch});
    MOLT_TRY(reader.read_header());
    stream::Record first = MOLT_TRY(reader.next());
    auto* hello_section = std::get_if<stream::SectionRecord>(&first);
    if (!hello_section || hello_section->info.id != kMultifdChannelSection) {
        return Error("the channel does not begin with its " + std::string(kMultifdChannelSection) + " section");
    }
    MultifdHello hello = MOLT_TRY(decode_hello(hello_section->payload));
    if (hello.session != m_hello.session) return Error("the channel belongs to another migration");
    {
        std::lock_guard guard(m_lock);
        if (hello.channels >= m_seen.size() || m_seen[hello.channels]) {
            return Error("channel index " + std::to_string(hello.channels) + " is out of range or repeated");
        }
        m_seen[hello.channels] = true;
    }
    UntouchedPages untouched(m_ram);
    uint64_t counted = 0;
    while (true) {
        stream::Record rec = MOLT_TRY(reader.next());
        if (auto* ram = std::get_if<stream::RamRecord>(&rec)) {
            MOLT_TRY(receive_ram(reader, *ram, m_ram, &untouched, m_prefault));
        } else if (auto* section = std::get_if<stream::SectionRecord>(&rec)) {
            return Error("unexpected section '" + section->info.id + "' on a RAM channel");
        } else if (std::holds_alternative<stream::EndOfStream>(rec)) {
            m_bytes.fetch_add(reader.offset() - counted, std::memory_order_relaxed);
            return ok();
        }
        m_bytes.fetch_add(reader.offset() - counted, std::memory_order_relaxed);
        counted = reader.offset();
    }
}

}  // namespace molt::migration
