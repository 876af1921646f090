// Unit tests of the migration stream reader under fault: every byte of a
// sample stream flipped, every truncation, crafted records with valid
// CRCs but bad fields (kind, lengths, versions, RAM range, end counts),
// records dropped, repeated or swapped.  Each must fail with its own
// message, never succeed and never crash.
#include "migration/stream/crc32c.h"
#include "stream_support.h"

using namespace molt;
using namespace molt::test;

namespace {

bool is_detected(const std::string& line) {
    for (const char* text : {"CRC mismatch", "unknown record kind", "(bad magic)",
                             "unsupported migration stream format version"}) {
        if (line.find(text) != std::string::npos) return true;
    }
    return false;
}

// The stream header of a fresh writer, for crafted streams.
std::vector<uint8_t> header_only(std::string_view arch = kHostArch) {
    StreamWriter w(UniqueFd(memfd_create("stream-header", MFD_CLOEXEC)));
    REQUIRE(w.write_header(arch));
    REQUIRE(w.flush());
    UniqueFd fd = w.release_fd();
    return file_bytes(fd.get());
}

// Appends a record header: the u32/u64 fields as given, then its CRC.
void append_header(std::vector<uint8_t>& out,
                   std::initializer_list<std::pair<int, uint64_t>> fields) {
    std::vector<uint8_t> h;
    for (auto [bytes, value] : fields) {
        uint8_t le[8];
        put_u64(le, value);
        h.insert(h.end(), le, le + bytes);
    }
    uint8_t crc[4];
    put_u32(crc, crc32c(h));
    h.insert(h.end(), crc, crc + 4);
    out.insert(out.end(), h.begin(), h.end());
}

void append_section_header(std::vector<uint8_t>& out, uint32_t version, uint32_t min_version,
                           uint64_t id_bytes, uint64_t payload_bytes) {
    append_header(out, {{4, 1}, {4, 0}, {4, version}, {4, min_version}, {4, id_bytes},
                        {4, payload_bytes}});
}

void append_ram_header(std::vector<uint8_t>& out, uint32_t flags, uint64_t first_page,
                       uint64_t count) {
    append_header(out, {{4, 2}, {4, flags}, {8, first_page}, {4, count}});
}

}  // namespace

TEST_CASE("stream faults: a flipped byte anywhere is detected") {
    const std::vector<uint8_t> good = sample_stream();
    REQUIRE(outcome(good).starts_with("end "));
    size_t checked = 0;
    for (int mask : {0x01, 0x80, 0xff}) {
        for (size_t at = 0; at < good.size(); ++at) {
            std::vector<uint8_t> bad = good;
            bad[at] = static_cast<uint8_t>(bad[at] ^ mask);
            std::string last = outcome(bad);
            INFO("byte " << at << " ^ " << mask << ": " << last);
            CHECK(last.starts_with("error: "));
            CHECK(is_detected(last));
            ++checked;
        }
    }
    MESSAGE(checked << " corrupted streams rejected");
}

TEST_CASE("stream faults: truncation at every length") {
    const std::vector<uint8_t> good = sample_stream();
    for (size_t len = 0; len < good.size(); ++len) {
        std::string last = outcome(std::span(good).first(len));
        INFO("length " << len << ": " << last);
        CHECK(last.starts_with("error: truncated migration stream: end of file at offset " +
                               std::to_string(len) + " "));
    }
    CHECK(outcome(std::span(good).first(20)) ==
          "error: truncated migration stream: end of file at offset 20 in the stream header");
    CHECK(outcome(std::span(good).first(32)) ==
          "error: truncated migration stream: end of file at offset 32 before the end marker");
    CHECK(outcome(std::span(good).first(40)) ==
          "error: truncated migration stream: end of file at offset 40 in a section record");
    const size_t end_marker = good.size() - kEndHeaderBytes;
    CHECK(outcome(std::span(good).first(end_marker + 5)) ==
          "error: truncated migration stream: end of file at offset " +
              std::to_string(end_marker + 5) + " in an end marker");
}

TEST_CASE("stream faults: the stream header") {
    std::vector<uint8_t> h = header_only();
    std::vector<uint8_t> bad = h;
    bad[0] = 'X';
    CHECK(outcome(bad) == "error: not a molt migration stream (bad magic)");
    bad = h;
    put_u32(bad.data() + 8, 2);
    CHECK(outcome(bad) ==
          "error: unsupported migration stream format version 2 (this molt reads version 1)");
    bad = h;
    put_u32(bad.data() + 12, 1);
    CHECK(outcome(bad) == "error: migration stream header: CRC mismatch");
    put_u32(bad.data() + 28, crc32c(std::span(bad).first(28)));
    CHECK(outcome(bad) == "error: migration stream header: unknown flags 0x1");
    CHECK(outcome(header_only("aarch64")) ==
          "error: migration stream is for arch 'aarch64', this molt is 'x86_64'");
}

TEST_CASE("stream faults: crafted records with valid CRCs") {
    const std::vector<uint8_t> h = header_only();
    auto with = [&](auto&& add) {
        std::vector<uint8_t> s = h;
        add(s);
        return outcome(s);
    };
    CHECK(with([](auto& s) { append_header(s, {{4, 9}}); }) ==
          "error: migration stream: unknown record kind 9 at offset 32");
    CHECK(with([](auto& s) { append_section_header(s, 1, 1, 5, kMaxSectionPayloadBytes + 1); }) ==
          "error: migration stream: section record at offset 32: payload length 16777217 "
          "exceeds the limit of 16777216 bytes");
    CHECK(with([](auto& s) { append_section_header(s, 1, 1, 0xffffffff, 0); }) ==
          "error: migration stream: section record at offset 32: id length 4294967295 is out "
          "of range (1..255)");
    CHECK(with([](auto& s) { append_section_header(s, 1, 1, 0, 0); }) ==
          "error: migration stream: section record at offset 32: id length 0 is out of range "
          "(1..255)");
    CHECK(with([](auto& s) {
              append_section_header(s, 2, 3, 1, 0);
              s.push_back('x');
              uint8_t crc[4];
              put_u32(crc, crc32c(as_bytes("x")));
              s.insert(s.end(), crc, crc + 4);
          }) == "error: migration stream: section 'x': min_version 3 is above its version 2");
    CHECK(with([](auto& s) {
              append_section_header(s, 1, 1, 1, 0);
              s.push_back(' ');
              uint8_t crc[4];
              put_u32(crc, crc32c(as_bytes(" ")));
              s.insert(s.end(), crc, crc + 4);
          }) == "error: migration stream: section record at offset 32: invalid section id");
    CHECK(with([](auto& s) { append_ram_header(s, 4, 0, 1); }) ==
          "error: migration stream: RAM record at offset 32: unknown flags 0x4");
    CHECK(with([](auto& s) { append_ram_header(s, 0, 0, kMaxDataRunPages + 1); }) ==
          "error: migration stream: RAM record at offset 32: page count 257 is out of range "
          "(1..256)");
    CHECK(with([](auto& s) { append_ram_header(s, kRamFlagZero, 0, 0); }) ==
          "error: migration stream: RAM record at offset 32: page count 0 is out of range "
          "(1..1048576)");
    CHECK(with([](auto& s) { append_ram_header(s, kRamFlagZero, 7, 2); }) ==
          "error: migration stream: RAM record at offset 32: pages 0x7..0x8 are beyond guest "
          "RAM (0x8 pages)");
    CHECK(with([](auto& s) { append_ram_header(s, 0, ~uint64_t{0}, 1); }) ==
          "error: migration stream: RAM record at offset 32: pages "
          "0xffffffffffffffff..0xffffffffffffffff are beyond guest RAM (0x8 pages)");
    CHECK(with([](auto& s) { append_header(s, {{4, 4}, {4, 0}, {8, 5}, {8, 32}}); }) ==
          "error: migration stream: end marker at offset 32: it counts 5 records, the stream "
          "had 0");
    CHECK(with([](auto& s) { append_header(s, {{4, 4}, {4, 0}, {8, 0}, {8, 31}}); }) ==
          "error: migration stream: end marker at offset 32: it counts 31 bytes before it");
    CHECK(with([](auto& s) { append_header(s, {{4, 4}, {4, 1}, {8, 0}, {8, 32}}); }) ==
          "error: migration stream: end marker at offset 32: record CRC chain mismatch");
    CHECK(with([](auto& s) { append_header(s, {{4, 4}, {4, 0}, {8, 0}, {8, 32}}); }) ==
          "end 0 records 32 bytes");
}

TEST_CASE("stream faults: records dropped, repeated or swapped") {
    // Two iteration markers of the same size: their order is in the chain.
    StreamWriter w(UniqueFd(memfd_create("stream-markers", MFD_CLOEXEC)));
    REQUIRE(w.write_header());
    REQUIRE(w.write_iteration_end(1));
    REQUIRE(w.write_iteration_end(2));
    REQUIRE(w.write_end());
    UniqueFd fd = w.release_fd();
    const std::vector<uint8_t> good = file_bytes(fd.get());
    const auto first = good.begin() + 32;
    const auto second = first + kIterationEndHeaderBytes;
    std::vector<uint8_t> swapped(good.begin(), first);
    swapped.insert(swapped.end(), second, second + kIterationEndHeaderBytes);
    swapped.insert(swapped.end(), first, second);
    swapped.insert(swapped.end(), second + kIterationEndHeaderBytes, good.end());
    CHECK(outcome(swapped) ==
          "error: migration stream: end marker at offset 56: record CRC chain mismatch");
    std::vector<uint8_t> dropped(good.begin(), first);
    dropped.insert(dropped.end(), second, good.end());
    CHECK(outcome(dropped) == "error: migration stream: end marker at offset 44: it counts 2 "
                              "records, the stream had 1");
    std::vector<uint8_t> repeated(good.begin(), second);
    repeated.insert(repeated.end(), first, good.end());
    CHECK(outcome(repeated) == "error: migration stream: end marker at offset 68: it counts 2 "
                               "records, the stream had 3");
}

TEST_CASE("stream faults: the writer refuses an oversized section payload") {
    StreamWriter w(UniqueFd(memfd_create("stream-big", MFD_CLOEXEC)));
    REQUIRE(w.write_header());
    std::vector<uint8_t> payload(kMaxSectionPayloadBytes + 1);
    auto r = w.write_section({"cpu/0", 0, 1, 1}, payload);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "migration stream: section 'cpu/0': payload of 16777217 bytes "
                                 "exceeds the limit of 16777216");
    // Nothing was written: the stream can go on.
    CHECK(w.write_end());
}

TEST_CASE("stream faults: a RAM data CRC error is sticky") {
    std::vector<uint8_t> bad = sample_stream();
    // The first data page of the sample (page 1): after the stream header,
    // two sections and the ZERO record of page 0.
    const size_t data = 32 + (28 + 5 + 12 + 4) + (28 + 11 + 4) + 24 + 24;
    REQUIRE(bad[data] == 0x11);
    bad[data + 100] ^= 0x10;
    StreamReader r(file_with(bad), {kSampleRamBytes});
    REQUIRE(r.read_header());
    std::vector<uint8_t> ram(kSampleRamBytes);
    for (int i = 0; i < 3; ++i) REQUIRE(r.next());
    auto rec = r.next();
    REQUIRE(rec);
    auto& run = std::get<RamRecord>(*rec);
    CHECK(run == RamRecord{1, 2, false});
    auto data_error = r.read_ram_into(std::span(ram).subspan(kPageBytes, run.data_bytes()));
    REQUIRE_FALSE(data_error);
    CHECK(data_error.error().message() ==
          "migration stream: RAM record at offset " + std::to_string(data - 24) +
              " (pages 0x1..0x2): data CRC mismatch");
    auto after = r.next();
    REQUIRE_FALSE(after);
    CHECK(after.error().message() == data_error.error().message());
}
