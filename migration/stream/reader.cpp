// StreamReader (reader.h): buffered reads, header and record checks in the
// order docs/migration-stream.md gives, and RAM data read in place.
#include "migration/stream/reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "migration/stream/crc32c.h"

namespace molt::migration::stream {

namespace {

constexpr size_t kReadBufferBytes = 256 * 1024;
// Reads at least this long bypass the buffer and land in the caller's memory.
constexpr size_t kDirectReadBytes = 16 * 1024;
// RAM data is read and checksummed in slices of this size, while still in cache.
constexpr size_t kRamSliceBytes = 128 * 1024;

std::string hex(uint64_t v) {
    char text[24];
    std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(v));
    return text;
}

}  // namespace

StreamReader::StreamReader(UniqueFd fd, ReaderLimits limits)
    : m_fd(std::move(fd)),
      m_socket(fd_kind(m_fd.get()) == FdKind::Socket),
      m_limits(limits),
      m_buffer(std::make_unique_for_overwrite<uint8_t[]>(kReadBufferBytes)),
      m_buffer_size(kReadBufferBytes) {}

Error StreamReader::fail(Error error) {
    m_error = error;
    return error;
}

Error StreamReader::truncated(std::string_view where) const {
    return Error("truncated migration stream: end of file at offset " + std::to_string(m_offset) +
                 " " + std::string(where));
}

Result<void> StreamReader::read_exact(uint8_t* p, size_t size, std::string_view where) {
    if (size == 0) return ok();   // (an empty payload's p may be null: no memcpy)
    size_t done = std::min(size, m_end - m_pos);
    std::memcpy(p, m_buffer.get() + m_pos, done);
    m_pos += done;
    m_offset += done;
    while (done < size) {
        const size_t want = size - done;
        const bool direct = want >= kDirectReadBytes;
        uint8_t* into = direct ? p + done : m_buffer.get();
        size_t had = m_fds.size();
        auto got = read_some(m_fd.get(), into, direct ? want : m_buffer_size, m_socket ? &m_fds : nullptr);
        if (!got) return fail(std::move(got).error().with_context("migration stream"));
        m_fds_seen += m_fds.size() - had;
        if (m_fds_seen > kMaxFds) {
            return fail(Error("migration stream: more than " + std::to_string(kMaxFds) + " file descriptors"));
        }
        if (*got == 0) return fail(truncated(where));
        size_t n = *got;
        if (!direct) {
            m_end = n;
            n = std::min(want, n);
            std::memcpy(p + done, m_buffer.get(), n);
            m_pos = n;
        }
        done += n;
        m_offset += n;
    }
    return ok();
}

Result<StreamHeader> StreamReader::read_header() {
    if (m_error) return *m_error;
    MOLT_ASSERT(m_state == State::Header);
    uint8_t h[kStreamHeaderBytes];
    MOLT_TRY(read_exact(h, sizeof(h), "in the stream header"));
    if (!std::equal(kMagic.begin(), kMagic.end(), h)) {
        return fail(Error("not a molt migration stream (bad magic)"));
    }
    // Magic and version are at fixed offsets in every format version; the
    // rest of the header is version 1's, so check the version first.
    StreamHeader header{get_u32(h + 8), get_u32(h + 12), {}};
    if (header.format_version != kFormatVersion) {
        return fail(Error("unsupported migration stream format version " +
                          std::to_string(header.format_version) + " (this molt reads version " +
                          std::to_string(kFormatVersion) + ")"));
    }
    if (crc32c(std::span(h, 28)) != get_u32(h + 28)) {
        return fail(Error("migration stream header: CRC mismatch"));
    }
    if (header.flags != 0) {
        return fail(Error("migration stream header: unknown flags " + hex(header.flags)));
    }
    const char* arch = reinterpret_cast<const char*>(h + 16);
    header.arch.assign(arch, strnlen(arch, kArchFieldBytes));
    if (header.arch != m_limits.arch) {
        return fail(Error("migration stream is for arch '" + header.arch + "', this molt is '" +
                          std::string(m_limits.arch) + "'"));
    }
    m_state = State::Records;
    return header;
}

void StreamReader::chain(uint32_t crc) {
    uint8_t le[4];
    put_u32(le, crc);
    m_chain = crc32c(le, m_chain);
}

Result<void> StreamReader::read_header_rest(std::span<uint8_t> h, std::string_view what) {
    const bool vowel = std::string_view("aeiou").find(what.front()) != std::string_view::npos;
    const std::string where = (vowel ? "in an " : "in a ") + std::string(what);
    MOLT_TRY(read_exact(h.data() + 4, h.size() - 4, where));
    const size_t n = h.size() - kCrcBytes;
    uint32_t crc = crc32c(h.first(n));
    if (crc != get_u32(h.data() + n)) {
        return fail(Error("migration stream: " + std::string(what) + " at offset " +
                          std::to_string(m_record_offset) + ": header CRC mismatch"));
    }
    chain(crc);
    return ok();
}

Result<Record> StreamReader::next() {
    if (m_error) return *m_error;
    MOLT_ASSERT(m_state != State::Header && m_state != State::RamData);
    if (m_state == State::Ended) {
        return fail(Error("migration stream: read past the end marker"));
    }
    m_record_offset = m_offset;
    uint8_t kind[4];
    MOLT_TRY(read_exact(kind, sizeof(kind), "before the end marker"));
    switch (static_cast<RecordKind>(get_u32(kind))) {
    case RecordKind::Section: return read_section();
    case RecordKind::Ram: return read_ram();
    case RecordKind::IterationEnd: return read_iteration_end();
    case RecordKind::End: return read_end();
    }
    return fail(Error("migration stream: unknown record kind " + std::to_string(get_u32(kind)) +
                      " at offset " + std::to_string(m_record_offset)));
}

Result<Record> StreamReader::read_section() {
    const std::string at = "section record at offset " + std::to_string(m_record_offset);
    uint8_t h[kSectionHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::Section));
    MOLT_TRY(read_header_rest(h, "section record"));
    SectionRecord s;
    s.info.instance = get_u32(h + 4);
    s.info.version = get_u32(h + 8);
    s.info.min_version = get_u32(h + 12);
    const uint32_t id_bytes = get_u32(h + 16);
    const uint32_t payload_bytes = get_u32(h + 20);
    if (id_bytes == 0 || id_bytes > kMaxSectionIdBytes) {
        return fail(Error("migration stream: " + at + ": id length " + std::to_string(id_bytes) +
                          " is out of range (1.." + std::to_string(kMaxSectionIdBytes) + ")"));
    }
    if (payload_bytes > kMaxSectionPayloadBytes) {
        return fail(Error("migration stream: " + at + ": payload length " +
                          std::to_string(payload_bytes) + " exceeds the limit of " +
                          std::to_string(kMaxSectionPayloadBytes) + " bytes"));
    }
    // Both lengths are checked: the allocations below are bounded.
    s.info.id.resize(id_bytes);
    s.payload.resize(payload_bytes);
    uint8_t trailer[kCrcBytes];
    auto* id = reinterpret_cast<uint8_t*>(s.info.id.data());
    MOLT_TRY(read_exact(id, id_bytes, "in a section record"));
    MOLT_TRY(read_exact(s.payload.data(), payload_bytes, "in a section record"));
    MOLT_TRY(read_exact(trailer, sizeof(trailer), "in a section record"));
    uint32_t crc = crc32c(s.payload, crc32c(std::span(id, id_bytes)));
    if (crc != get_u32(trailer)) {
        return fail(Error("migration stream: " + at + ": CRC mismatch"));
    }
    chain(crc);
    if (!valid_section_id(s.info.id)) {
        return fail(Error("migration stream: " + at + ": invalid section id"));
    }
    if (s.info.min_version > s.info.version) {
        return fail(Error("migration stream: section '" + s.info.id + "': min_version " +
                          std::to_string(s.info.min_version) + " is above its version " +
                          std::to_string(s.info.version)));
    }
    ++m_records;
    return Record(std::move(s));
}

Result<Record> StreamReader::read_ram() {
    const std::string at = "RAM record at offset " + std::to_string(m_record_offset);
    uint8_t h[kRamHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::Ram));
    MOLT_TRY(read_header_rest(h, "RAM record"));
    const uint32_t flags = get_u32(h + 4);
    RamRecord r{get_u64(h + 8), get_u32(h + 16), (flags & kRamFlagZero) != 0};
    if ((flags & ~kRamFlagZero) != 0) {
        return fail(Error("migration stream: " + at + ": unknown flags " + hex(flags)));
    }
    const uint32_t limit = r.zero ? kMaxZeroRunPages : kMaxDataRunPages;
    if (r.page_count == 0 || r.page_count > limit) {
        return fail(Error("migration stream: " + at + ": page count " +
                          std::to_string(r.page_count) + " is out of range (1.." +
                          std::to_string(limit) + ")"));
    }
    const uint64_t ram_pages = m_limits.ram_size_bytes / kPageBytes;
    if (r.first_page > ram_pages || r.page_count > ram_pages - r.first_page) {
        return fail(Error("migration stream: " + at + ": pages " + hex(r.first_page) + ".." +
                          hex(r.first_page + r.page_count - 1) + " are beyond guest RAM (" +
                          hex(ram_pages) + " pages)"));
    }
    ++m_records;
    if (!r.zero) {
        m_pending = r;
        m_state = State::RamData;
    }
    return Record(r);
}

Result<void> StreamReader::finish_ram(uint32_t crc) {
    uint8_t trailer[kCrcBytes];
    MOLT_TRY(read_exact(trailer, sizeof(trailer), "in a RAM record"));
    if (crc != get_u32(trailer)) {
        return fail(Error("migration stream: RAM record at offset " +
                          std::to_string(m_record_offset) + " (pages " +
                          hex(m_pending.first_page) + ".." +
                          hex(m_pending.first_page + m_pending.page_count - 1) +
                          "): data CRC mismatch"));
    }
    chain(crc);
    m_state = State::Records;
    return ok();
}

Result<void> StreamReader::read_ram_into(std::span<uint8_t> dest) {
    if (m_error) return *m_error;
    MOLT_ASSERT(m_state == State::RamData && dest.size() == m_pending.data_bytes());
    uint32_t crc = 0;
    for (size_t done = 0; done < dest.size(); done += kRamSliceBytes) {
        auto slice = dest.subspan(done, std::min(kRamSliceBytes, dest.size() - done));
        MOLT_TRY(read_exact(slice.data(), slice.size(), "in a RAM record"));
        crc = crc32c(slice, crc);
    }
    return finish_ram(crc);
}

Result<void> StreamReader::skip_ram() {
    if (m_error) return *m_error;
    MOLT_ASSERT(m_state == State::RamData);
    std::vector<uint8_t> scratch(std::min<uint64_t>(kRamSliceBytes, m_pending.data_bytes()));
    uint32_t crc = 0;
    for (uint64_t left = m_pending.data_bytes(); left > 0;) {
        auto slice = std::span(scratch).first(std::min<uint64_t>(left, scratch.size()));
        MOLT_TRY(read_exact(slice.data(), slice.size(), "in a RAM record"));
        crc = crc32c(slice, crc);
        left -= slice.size();
    }
    return finish_ram(crc);
}

Result<Record> StreamReader::read_iteration_end() {
    uint8_t h[kIterationEndHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::IterationEnd));
    MOLT_TRY(read_header_rest(h, "iteration marker"));
    ++m_records;
    return Record(IterationEnd{get_u32(h + 4)});
}

Result<Record> StreamReader::read_end() {
    const std::string at = "end marker at offset " + std::to_string(m_record_offset);
    const uint32_t chain_before = m_chain;
    uint8_t h[kEndHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::End));
    MOLT_TRY(read_header_rest(h, "end marker"));
    EndOfStream end{get_u64(h + 8), get_u64(h + 16)};
    if (end.record_count != m_records) {
        return fail(Error("migration stream: " + at + ": it counts " +
                          std::to_string(end.record_count) + " records, the stream had " +
                          std::to_string(m_records)));
    }
    if (end.byte_count != m_record_offset) {
        return fail(Error("migration stream: " + at + ": it counts " +
                          std::to_string(end.byte_count) + " bytes before it"));
    }
    if (get_u32(h + 4) != chain_before) {
        return fail(Error("migration stream: " + at + ": record CRC chain mismatch"));
    }
    m_state = State::Ended;
    return Record(end);
}

Result<std::vector<UniqueFd>> StreamReader::take_fds(size_t n) {
    if (m_fds.size() < n) {
        return fail(Error("migration stream: " + std::to_string(n) + " file descriptors announced, " +
                          std::to_string(m_fds.size()) + " arrived"));
    }
    std::vector<UniqueFd> out(std::make_move_iterator(m_fds.begin()),
                              std::make_move_iterator(m_fds.begin() + static_cast<std::ptrdiff_t>(n)));
    m_fds.erase(m_fds.begin(), m_fds.begin() + static_cast<std::ptrdiff_t>(n));
    return out;
}

}  // namespace molt::migration::stream
