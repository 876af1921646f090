// Helpers for the migration stream tests (test_stream_*.cpp): fds holding
// given bytes (a memfd: a real file), socketpairs, pipes, a sample stream
// with every record kind, and a reader loop that turns a whole stream into
// one line per record, or the first Error.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "migration/stream/reader.h"
#include "migration/stream/writer.h"

namespace molt::test {

using namespace molt::migration::stream;

inline std::span<const uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A temporary file (memfd) holding bytes, its offset back at 0.
inline UniqueFd file_with(std::span<const uint8_t> bytes) {
    UniqueFd fd(memfd_create("stream-test", MFD_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    REQUIRE(lseek(fd.get(), 0, SEEK_SET) == 0);
    return fd;
}

// Everything in the file fd, from offset 0.
inline std::vector<uint8_t> file_bytes(int fd) {
    off_t size = lseek(fd, 0, SEEK_END);
    REQUIRE(size >= 0);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    REQUIRE(pread(fd, bytes.data(), bytes.size(), 0) == size);
    return bytes;
}

inline std::pair<UniqueFd, UniqueFd> make_socketpair() {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// {read end, write end}.
inline std::pair<UniqueFd, UniqueFd> make_pipe() {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    return {UniqueFd(p[0]), UniqueFd(p[1])};
}

// A page whose every byte is value (0 gives a zero page).
inline std::vector<uint8_t> pages_of(std::initializer_list<uint8_t> values) {
    std::vector<uint8_t> pages;
    for (uint8_t v : values) pages.insert(pages.end(), kPageBytes, v);
    return pages;
}

inline constexpr uint64_t kSampleRamBytes = 8 * kPageBytes;

// Writes the sample stream: every record kind, zero and data RAM runs, two
// passes, an empty payload.
inline Result<void> write_sample(StreamWriter& w) {
    MOLT_TRY(w.write_header());
    MOLT_TRY(w.write_section({"cpu/0", 0, 2, 1}, as_bytes(R"({"rip":4096})")));
    MOLT_TRY(w.write_section({"serial/com1", 0, 1, 1}, {}));
    MOLT_TRY(w.write_ram_pages(0, pages_of({0, 0x11, 0x22, 0})));
    MOLT_TRY(w.write_iteration_end(1));
    MOLT_TRY(w.write_ram_pages(5, pages_of({0x55})));
    MOLT_TRY(w.write_iteration_end(2));
    MOLT_TRY(w.write_section({"virtio-net/net0", 1, 3, 2}, as_bytes(R"({"tap":"tap0"})")));
    return w.write_end();
}

inline std::vector<uint8_t> sample_stream() {
    StreamWriter w(UniqueFd(memfd_create("stream-sample", MFD_CLOEXEC)));
    REQUIRE(write_sample(w));
    UniqueFd fd = w.release_fd();
    return file_bytes(fd.get());
}

inline std::string describe(const Record& record, StreamReader& reader, std::vector<uint8_t>& ram) {
    if (auto* s = std::get_if<SectionRecord>(&record)) {
        return "section " + s->info.id + " #" + std::to_string(s->info.instance) + " v" +
               std::to_string(s->info.version) + "/" + std::to_string(s->info.min_version) +
               " " + std::string(s->payload.begin(), s->payload.end());
    }
    if (auto* r = std::get_if<RamRecord>(&record)) {
        if (!r->zero) {
            auto dest = std::span(ram).subspan(r->first_page * kPageBytes, r->data_bytes());
            if (auto ok = reader.read_ram_into(dest); !ok) return "error: " + ok.error().message();
        }
        return "ram " + std::to_string(r->first_page) + "+" + std::to_string(r->page_count) +
               (r->zero ? " zero" : " data");
    }
    if (auto* i = std::get_if<IterationEnd>(&record)) return "pass " + std::to_string(i->pass);
    auto& e = std::get<EndOfStream>(record);
    return "end " + std::to_string(e.record_count) + " records " + std::to_string(e.byte_count) +
           " bytes";
}

// Reads a whole stream: one line per record, or "error: MESSAGE" as the
// last line.  RAM data goes into ram (ram_bytes of it).
inline std::vector<std::string> read_all(UniqueFd fd, uint64_t ram_bytes,
                                         std::vector<uint8_t>* ram_out = nullptr) {
    std::vector<uint8_t> ram(ram_bytes);
    StreamReader reader(std::move(fd), {ram_bytes});
    std::vector<std::string> lines;
    auto header = reader.read_header();
    if (!header) return {"error: " + header.error().message()};
    lines.push_back("header " + header->arch);
    for (;;) {
        auto record = reader.next();
        if (!record) {
            lines.push_back("error: " + record.error().message());
            break;
        }
        lines.push_back(describe(*record, reader, ram));
        if (lines.back().starts_with("error: ") || lines.back().starts_with("end ")) break;
    }
    if (ram_out) *ram_out = std::move(ram);
    return lines;
}

// The last line of read_all over a file holding bytes.
inline std::string outcome(std::span<const uint8_t> bytes, uint64_t ram_bytes = kSampleRamBytes) {
    return read_all(file_with(bytes), ram_bytes).back();
}

}  // namespace molt::test
