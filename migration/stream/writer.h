// StreamWriter: produces a migration stream (format.h) on a file
// descriptor: a socket, a pipe or a file.
//
// The engine's migration thread drives it: write_header(), then sections,
// RAM runs and iteration markers in any order, then write_end().  Small
// records are gathered in a buffer (1 MiB by default); large RAM data goes
// out with one writev/sendmsg beside the buffered bytes, never copied.
// The fd may block.  Every call returns an Error on a write failure
// ("migration stream: write: Broken pipe", errno kept); the first failure
// is sticky and every later call returns it again.  On a socket the peer
// closing gives EPIPE, never SIGPIPE; on a pipe the process must ignore
// SIGPIPE (molt does: vmm/main.cpp).  Not thread-safe: one thread at a
// time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "migration/stream/fd_io.h"
#include "migration/stream/format.h"
#include "migration/stream/records.h"
#include "migration/stream/zero_pages.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration::stream {

struct WriterStats {
    uint64_t bytes_written = 0;   // accepted by the fd
    uint64_t records = 0;         // records written, the end marker excluded
    uint64_t zero_pages = 0;      // pages sent as ZERO runs
    uint64_t data_pages = 0;      // pages sent with their data
};

class StreamWriter {
public:
    static constexpr size_t kDefaultBufferBytes = size_t{1} << 20;

    // Owns fd; buffer_bytes >= 4096.
    explicit StreamWriter(UniqueFd fd, size_t buffer_bytes = kDefaultBufferBytes);

    // The stream header; first, once.  arch other than kHostArch only for
    // tests (at most kArchFieldBytes bytes).
    Result<void> write_header(std::string_view arch = kHostArch);

    // One section.  info.id must be valid_section_id() and min_version <=
    // version (else a bug).  Error: payload larger than
    // kMaxSectionPayloadBytes, or the write failed.
    Result<void> write_section(const SectionInfo& info, std::span<const uint8_t> payload);
    // The same with file descriptors attached (SCM_RIGHTS, at most
    // kMaxFdsPerMessage, runtime/socket.h): a blocking UNIX socket only; the reader takes them
    // with take_fds() - the payload must say how many.
    Result<void> write_section(const SectionInfo& info, std::span<const uint8_t> payload,
                               std::span<const int> fds);

    // Guest pages starting at first_page (pages: whole pages, a bug
    // otherwise), zero runs detected (zero_pages.h) and sent without data.
    Result<void> write_ram_pages(uint64_t first_page, std::span<const uint8_t> pages);

    // One data record: 1..kMaxDataRunPages whole pages, sent as they are.
    Result<void> write_ram_data(uint64_t first_page, std::span<const uint8_t> pages);

    // One ZERO record: 1..kMaxZeroRunPages pages, no data.
    Result<void> write_zero_pages(uint64_t first_page, uint32_t page_count);

    // The end of RAM pass `pass`.
    Result<void> write_iteration_end(uint32_t pass);

    // The end marker, then flush(); last.
    Result<void> write_end();

    // Hands every buffered byte to the fd.
    Result<void> flush();

    const WriterStats& stats() const { return m_stats; }
    // Bytes of stream produced so far: written plus buffered.
    uint64_t position() const { return m_stats.bytes_written + m_used; }

    // Gives the fd back (after write_end() or to abandon the stream).
    UniqueFd release_fd() { return std::move(m_fd); }

private:
    Result<void> check_usable() const;
    Result<void> fail(Error error);
    // Buffers data (flushing first when full; large data written directly).
    Result<void> append(std::span<const uint8_t> data);
    // Adds a record's CRC to the chain the end marker carries.
    void chain(uint32_t crc);
    // Appends a header whose last 4 bytes are its CRC, filled in here.
    Result<void> append_header(std::span<uint8_t> header);
    Result<void> write_iov(std::span<const uint8_t> a, std::span<const uint8_t> b);

    UniqueFd m_fd;
    FdKind m_kind;
    // Not zero-filled: only the pages a small stream uses are ever touched
    // (a fresh page costs a fault, and on a VM often one in the host too:
    // inside a live update's pause, that is milliseconds).
    std::unique_ptr<uint8_t[]> m_buffer;
    size_t m_buffer_size;
    size_t m_used = 0;
    WriterStats m_stats;
    uint32_t m_chain = 0;
    bool m_header_written = false;
    bool m_ended = false;
    std::optional<Error> m_error;
    std::vector<PageRun> m_runs;   // reused by write_ram_pages
};

}  // namespace molt::migration::stream
