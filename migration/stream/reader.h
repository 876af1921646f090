// StreamReader: reads and checks a migration stream (format.h) from a file
// descriptor, one record at a time.
//
// Everything read is untrusted.  Each header is checked against its own
// CRC before any field in it is used, every length against its limit
// before anything is allocated or read, every body against its CRC, and
// the end marker against the record count, byte count and CRC chain of
// what came before.  Any failure is a specific Error (the texts are in
// docs/migration-stream.md and asserted by test_stream_faults.cpp); the
// first one is sticky: every later call returns it again.
//
// RAM data is read straight into the caller's memory (read_ram_into), and
// its CRC is checked right after: a destination must therefore never run a
// guest from a stream that failed anywhere; the engine discards the whole
// VM on any error (docs/migration-stream.md "Trust").
//
// The reader is told the guest RAM size and refuses RAM runs beyond it.
// Blocking reads: the migration thread's, one thread at a time.
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
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration::stream {

struct ReaderLimits {
    uint64_t ram_size_bytes = 0;        // RAM runs must lie below this
    std::string_view arch = kHostArch;  // the header must name it
};

class StreamReader {
public:
    // Owns fd.
    StreamReader(UniqueFd fd, ReaderLimits limits);

    // The stream header; first, once.  Errors: bad magic, unsupported
    // format version, CRC mismatch, unknown flags, another arch, truncation.
    Result<StreamHeader> read_header();

    // The next record.  After a RamRecord with data, the data must be taken
    // (read_ram_into or skip_ram) before calling next() again (else a bug).
    // An EndOfStream is last: next() after it is an Error.
    Result<Record> next();

    // Reads the pending RAM record's data into dest (exactly its
    // data_bytes()), then checks the CRC.  On Error, dest may hold part of
    // the data: the stream and the guest are both to be discarded.
    Result<void> read_ram_into(std::span<uint8_t> dest);

    // Reads and checks the pending RAM record's data, keeping none of it.
    Result<void> skip_ram();

    // Stream bytes consumed so far.
    uint64_t offset() const { return m_offset; }
    // A UNIX socket stream carries file descriptors beside sections
    // (StreamWriter::write_section with fds): the next n that arrived, in
    // order.  Error if fewer came (or more than kMaxFds in all: a
    // backend-transfer stream carries one fd per virtio-net device, at
    // most kMaxVirtioDevices = 8, each TAP at most 16 queues; 64 is four
    // full TAPs, and a peer cannot fill our fd table).
    static constexpr size_t kMaxFds = 64;
    Result<std::vector<UniqueFd>> take_fds(size_t n);

    UniqueFd release_fd() { return std::move(m_fd); }

private:
    enum class State { Header, Records, RamData, Ended };

    // Records error as the sticky failure and returns it.
    Error fail(Error error);
    Error truncated(std::string_view where) const;
    // Reads exactly size bytes into p, or fails naming `where`.
    Result<void> read_exact(uint8_t* p, size_t size, std::string_view where);
    // Reads the rest of a header whose first 4 bytes (the kind) are in h
    // and checks its CRC.
    Result<void> read_header_rest(std::span<uint8_t> h, std::string_view what);
    Result<Record> read_section();
    Result<Record> read_ram();
    Result<Record> read_iteration_end();
    Result<Record> read_end();
    Result<void> finish_ram(uint32_t crc);
    void chain(uint32_t crc);

    UniqueFd m_fd;
    bool m_socket;
    std::vector<UniqueFd> m_fds;   // received, not taken yet (oldest first)
    size_t m_fds_seen = 0;
    ReaderLimits m_limits;
    // Not zero-filled: only the pages a small stream uses are ever touched
    // (a fresh page costs a fault, and on a VM often one in the host too:
    // inside a live update's pause, that is milliseconds).
    std::unique_ptr<uint8_t[]> m_buffer;
    size_t m_buffer_size;
    size_t m_pos = 0;
    size_t m_end = 0;
    uint64_t m_offset = 0;
    uint64_t m_record_offset = 0;   // where the current record began
    uint64_t m_records = 0;
    uint32_t m_chain = 0;
    State m_state = State::Header;
    RamRecord m_pending;
    std::optional<Error> m_error;
};

}  // namespace molt::migration::stream
