// StreamWriter (writer.h): record encoding, buffering, and the writev path
// for RAM data.
#include "migration/stream/writer.h"

#include <algorithm>
#include <cstring>

#include "migration/stream/crc32c.h"
#include "runtime/socket.h"

namespace molt::migration::stream {

namespace {

// Below this, data is copied into the buffer; above, written beside it.
constexpr size_t kDirectWriteBytes = 64 * 1024;

iovec to_iovec(std::span<const uint8_t> s) {
    // SAFETY: writev only reads through iov_base; the cast drops const for its type.
    return iovec{const_cast<uint8_t*>(s.data()), s.size()};
}

}  // namespace

StreamWriter::StreamWriter(UniqueFd fd, size_t buffer_bytes)
    : m_fd(std::move(fd)),
      m_kind(fd_kind(m_fd.get())),
      m_buffer(std::make_unique_for_overwrite<uint8_t[]>(buffer_bytes)),
      m_buffer_size(buffer_bytes) {
    MOLT_ASSERT(buffer_bytes >= kPageBytes);
}

Result<void> StreamWriter::check_usable() const {
    if (m_error) return *m_error;
    return ok();
}

Result<void> StreamWriter::fail(Error error) {
    m_error = std::move(error).with_context("migration stream");
    return *m_error;
}

Result<void> StreamWriter::write_iov(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    iovec iov[2] = {to_iovec(a), to_iovec(b)};
    if (auto r = write_all(m_fd.get(), m_kind, iov); !r) return fail(std::move(r).error());
    m_stats.bytes_written += a.size() + b.size();
    return ok();
}

Result<void> StreamWriter::flush() {
    MOLT_TRY(check_usable());
    if (m_used == 0) return ok();
    MOLT_TRY(write_iov(std::span(m_buffer.get(), m_used), {}));
    m_used = 0;
    return ok();
}

Result<void> StreamWriter::append(std::span<const uint8_t> data) {
    if (data.empty()) return ok();   // (an empty payload's data() may be null: no memcpy)
    // Large data goes beside the buffer; what remains fits once flushed.
    if (data.size() >= std::min(kDirectWriteBytes, m_buffer_size)) {
        MOLT_TRY(write_iov(std::span(m_buffer.get(), m_used), data));
        m_used = 0;
        return ok();
    }
    if (data.size() > m_buffer_size - m_used) MOLT_TRY(flush());
    std::memcpy(m_buffer.get() + m_used, data.data(), data.size());
    m_used += data.size();
    return ok();
}

void StreamWriter::chain(uint32_t crc) {
    uint8_t le[4];
    put_u32(le, crc);
    m_chain = crc32c(le, m_chain);
}

Result<void> StreamWriter::append_header(std::span<uint8_t> header) {
    const size_t n = header.size() - kCrcBytes;
    uint32_t crc = crc32c(header.first(n));
    put_u32(header.data() + n, crc);
    chain(crc);
    return append(header);
}

Result<void> StreamWriter::write_header(std::string_view arch) {
    MOLT_ASSERT(!m_header_written && !arch.empty() && arch.size() <= kArchFieldBytes);
    MOLT_TRY(check_usable());
    uint8_t h[kStreamHeaderBytes] = {};
    std::memcpy(h, kMagic.data(), kMagic.size());
    put_u32(h + 8, kFormatVersion);
    put_u32(h + 12, 0);   // flags
    std::memcpy(h + 16, arch.data(), arch.size());
    put_u32(h + 28, crc32c(std::span(h, 28)));
    m_header_written = true;
    return append(h);
}

Result<void> StreamWriter::write_section(const SectionInfo& info, std::span<const uint8_t> payload,
                                         std::span<const int> fds) {
    if (fds.empty()) return write_section(info, payload);
    if (m_kind != FdKind::Socket) {
        return Error("migration stream: section '" + info.id + "': file descriptors go over a UNIX socket only");
    }
    MOLT_TRY(flush());
    MOLT_TRY(write_section(info, payload));
    // A section that went around the buffer (a large payload) cannot
    // carry them.
    if (m_used == 0) return Error("migration stream: section '" + info.id + "' is too large to carry fds");
    std::string_view bytes(reinterpret_cast<const char*>(m_buffer.get()), m_used);
    if (auto r = send_with_fds(m_fd.get(), bytes, std::vector<int>(fds.begin(), fds.end())); !r) {
        return fail(std::move(r).error());
    }
    m_stats.bytes_written += m_used;
    m_used = 0;
    return ok();
}

Result<void> StreamWriter::write_section(const SectionInfo& info,
                                         std::span<const uint8_t> payload) {
    MOLT_ASSERT(m_header_written && !m_ended);
    MOLT_ASSERT(valid_section_id(info.id) && info.min_version <= info.version);
    MOLT_TRY(check_usable());
    if (payload.size() > kMaxSectionPayloadBytes) {
        return Error("migration stream: section '" + info.id + "': payload of " +
                     std::to_string(payload.size()) + " bytes exceeds the limit of " +
                     std::to_string(kMaxSectionPayloadBytes));
    }
    uint8_t h[kSectionHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::Section));
    put_u32(h + 4, info.instance);
    put_u32(h + 8, info.version);
    put_u32(h + 12, info.min_version);
    put_u32(h + 16, static_cast<uint32_t>(info.id.size()));
    put_u32(h + 20, static_cast<uint32_t>(payload.size()));
    MOLT_TRY(append_header(h));
    auto id = std::span(reinterpret_cast<const uint8_t*>(info.id.data()), info.id.size());
    uint32_t crc = crc32c(payload, crc32c(id));
    uint8_t trailer[kCrcBytes];
    put_u32(trailer, crc);
    chain(crc);
    MOLT_TRY(append(id));
    MOLT_TRY(append(payload));
    MOLT_TRY(append(trailer));
    ++m_stats.records;
    return ok();
}

Result<void> StreamWriter::write_ram_data(uint64_t first_page, std::span<const uint8_t> pages) {
    MOLT_ASSERT(m_header_written && !m_ended);
    MOLT_ASSERT(pages.size() % kPageBytes == 0 && !pages.empty());
    MOLT_ASSERT(pages.size() / kPageBytes <= kMaxDataRunPages);
    MOLT_TRY(check_usable());
    const auto count = static_cast<uint32_t>(pages.size() / kPageBytes);
    uint8_t h[kRamHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::Ram));
    put_u32(h + 4, 0);   // flags: data follows
    put_u64(h + 8, first_page);
    put_u32(h + 16, count);
    MOLT_TRY(append_header(h));
    uint32_t crc = crc32c(pages);
    uint8_t trailer[kCrcBytes];
    put_u32(trailer, crc);
    chain(crc);
    MOLT_TRY(append(pages));
    MOLT_TRY(append(trailer));
    ++m_stats.records;
    m_stats.data_pages += count;
    return ok();
}

Result<void> StreamWriter::write_zero_pages(uint64_t first_page, uint32_t page_count) {
    MOLT_ASSERT(m_header_written && !m_ended);
    MOLT_ASSERT(page_count >= 1 && page_count <= kMaxZeroRunPages);
    MOLT_TRY(check_usable());
    uint8_t h[kRamHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::Ram));
    put_u32(h + 4, kRamFlagZero);
    put_u64(h + 8, first_page);
    put_u32(h + 16, page_count);
    MOLT_TRY(append_header(h));
    ++m_stats.records;
    m_stats.zero_pages += page_count;
    return ok();
}

Result<void> StreamWriter::write_ram_pages(uint64_t first_page, std::span<const uint8_t> pages) {
    split_page_runs(first_page, pages, m_runs);
    for (const PageRun& run : m_runs) {
        if (run.zero) {
            MOLT_TRY(write_zero_pages(run.first_page, run.page_count));
        } else {
            size_t offset = (run.first_page - first_page) * kPageBytes;
            MOLT_TRY(write_ram_data(run.first_page,
                                    pages.subspan(offset, run.page_count * size_t{kPageBytes})));
        }
    }
    return ok();
}

Result<void> StreamWriter::write_iteration_end(uint32_t pass) {
    MOLT_ASSERT(m_header_written && !m_ended);
    MOLT_TRY(check_usable());
    uint8_t h[kIterationEndHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::IterationEnd));
    put_u32(h + 4, pass);
    MOLT_TRY(append_header(h));
    ++m_stats.records;
    return ok();
}

Result<void> StreamWriter::write_end() {
    MOLT_ASSERT(m_header_written && !m_ended);
    MOLT_TRY(check_usable());
    uint8_t h[kEndHeaderBytes];
    put_u32(h, static_cast<uint32_t>(RecordKind::End));
    put_u32(h + 4, m_chain);
    put_u64(h + 8, m_stats.records);
    put_u64(h + 16, position());
    m_ended = true;
    MOLT_TRY(append_header(h));
    return flush();
}

}  // namespace molt::migration::stream
