// Unit tests of the migration stream library (migration/stream) when all
// goes well: CRC32C, zero-page runs, the section version rule, and round
// trips of every record kind through a file, a pipe and a socketpair.
#include <fcntl.h>

#include <random>
#include <thread>

#include "migration/stream/crc32c.h"
#include "migration/stream/section_version.h"
#include "migration/stream/zero_pages.h"
#include "stream_support.h"

using namespace molt;
using namespace molt::test;

TEST_CASE("stream crc32c: the check value, both paths, continuation") {
    CHECK(crc32c(as_bytes("123456789")) == 0xE3069283);
    CHECK(crc32c_portable(as_bytes("123456789")) == 0xE3069283);
    CHECK(crc32c({}) == 0);
    std::vector<uint8_t> data(40000);
    std::mt19937 rng(1);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    // Lengths around the hardware path's three 1 KiB lanes, too.
    for (size_t len : std::initializer_list<size_t>{0, 1, 7, 8, 9, 63, 64, 4095, 4096, 3071, 3072, 3073, 6144,
                                                     6150, 40000}) {
        for (size_t start : std::initializer_list<size_t>{0, 1, 3}) {
            auto s = std::span(data).subspan(0, len).subspan(std::min(start, len));
            CHECK(crc32c(s) == crc32c_portable(s));
            size_t half = s.size() / 2;
            CHECK(crc32c(s.subspan(half), crc32c(s.first(half))) == crc32c(s));
        }
    }
    MESSAGE("crc32c uses the CPU instruction: " << crc32c_hardware());
}

TEST_CASE("stream zero pages: detection and runs") {
    std::vector<uint8_t> page(kPageBytes, 0);
    CHECK(is_zero_page(page.data()));
    for (size_t at : {size_t{0}, size_t{8}, size_t{63}, size_t{64}, kPageBytes - 1}) {
        page[at] = 1;
        CHECK_FALSE(is_zero_page(page.data()));
        page[at] = 0;
    }
    std::vector<PageRun> runs;
    split_page_runs(10, pages_of({0, 0, 1, 2, 0, 3}), runs);
    CHECK(runs == std::vector<PageRun>{{10, 2, true}, {12, 2, false}, {14, 1, true},
                                      {15, 1, false}});
    split_page_runs(0, {}, runs);
    CHECK(runs.empty());
    // Data runs are cut at the maximum; zero runs are not (below theirs).
    std::vector<uint8_t> many((kMaxDataRunPages + 44) * kPageBytes, 7);
    split_page_runs(0, many, runs);
    CHECK(runs == std::vector<PageRun>{{0, kMaxDataRunPages, false},
                                      {kMaxDataRunPages, 44, false}});
    split_page_runs(0, many, runs, 100);
    CHECK(runs.size() == 3);
    std::fill(many.begin(), many.end(), 0);
    split_page_runs(0, many, runs);
    CHECK(runs == std::vector<PageRun>{{0, kMaxDataRunPages + 44, true}});
}

TEST_CASE("stream section versions: accept, too new, too old, malformed") {
    SupportedVersions v2{2, 1};
    CHECK(check_section_version({"serial/com1", 0, 2, 1}, v2));
    CHECK(check_section_version({"serial/com1", 0, 1, 1}, v2));
    // A newer writer whose data an older loader can still read.
    CHECK(check_section_version({"serial/com1", 0, 4, 2}, v2));
    auto text = [&](SectionInfo s, SupportedVersions l) {
        auto r = check_section_version(s, l);
        REQUIRE_FALSE(r);
        return r.error().message();
    };
    CHECK(text({"serial/com1", 0, 3, 3}, v2) ==
          "section 'serial/com1': version 3 is newer than this molt supports (2)");
    CHECK(text({"serial/com1", 0, 4, 3}, v2) ==
          "section 'serial/com1': version 4 needs at least version 3, this molt supports 2");
    CHECK(text({"serial/com1", 0, 1, 1}, {3, 2}) ==
          "section 'serial/com1': version 1 is older than this molt supports (2 and later)");
    CHECK(text({"serial/com1", 0, 2, 3}, v2) ==
          "section 'serial/com1': min_version 3 is above its version 2");
}

namespace {

const std::vector<std::string> kSampleLines = {
    "header x86_64",
    R"(section cpu/0 #0 v2/1 {"rip":4096})",
    "section serial/com1 #0 v1/1 ",
    "ram 0+1 zero",
    "ram 1+2 data",
    "ram 3+1 zero",
    "pass 1",
    "ram 5+1 data",
    "pass 2",
    R"(section virtio-net/net0 #1 v3/2 {"tap":"tap0"})",
};

void check_sample(const std::vector<std::string>& lines, const std::vector<uint8_t>& ram,
                  uint64_t stream_bytes) {
    auto expected = kSampleLines;
    expected.push_back("end 9 records " + std::to_string(stream_bytes - kEndHeaderBytes) +
                       " bytes");
    CHECK(lines == expected);
    std::vector<uint8_t> want = pages_of({0, 0x11, 0x22, 0, 0, 0x55, 0, 0});
    CHECK(ram == want);
}

}  // namespace

TEST_CASE("stream round trip through a file") {
    std::vector<uint8_t> bytes = sample_stream();
    CHECK(std::equal(kMagic.begin(), kMagic.end(), bytes.begin()));
    std::vector<uint8_t> ram;
    check_sample(read_all(file_with(bytes), kSampleRamBytes, &ram), ram, bytes.size());
}

TEST_CASE("stream round trip through a pipe, writer on another thread") {
    auto [in, out] = make_pipe();
    std::thread writer([fd = std::move(out)]() mutable {
        StreamWriter w(std::move(fd), kPageBytes);   // a small buffer: many writes
        CHECK(write_sample(w));
        CHECK(w.stats().records == 9);
        CHECK(w.stats().zero_pages == 2);
        CHECK(w.stats().data_pages == 3);
        CHECK(w.stats().bytes_written == w.position());
    });
    std::vector<uint8_t> ram;
    auto lines = read_all(std::move(in), kSampleRamBytes, &ram);
    writer.join();
    check_sample(lines, ram, sample_stream().size());
}

TEST_CASE("stream round trip: 8 MiB of mixed pages over a non-blocking socketpair") {
    auto [a, b] = make_socketpair();
    REQUIRE(fcntl(a.get(), F_SETFL, O_NONBLOCK) == 0);   // the writer polls on EAGAIN
    REQUIRE(fcntl(b.get(), F_SETFL, O_NONBLOCK) == 0);   // and so does the reader
    constexpr size_t kPages = 2048;
    std::vector<uint8_t> src(kPages * kPageBytes, 0);
    std::mt19937 rng(7);
    for (size_t p = 0; p < kPages; ++p) {
        if (rng() % 3 == 0) continue;   // a third of the pages stay zero
        for (size_t i = 0; i < kPageBytes; i += 512) src[p * kPageBytes + i] = uint8_t(rng() | 1);
    }
    std::thread writer([&, fd = std::move(a)]() mutable {
        StreamWriter w(std::move(fd));
        CHECK(w.write_header());
        CHECK(w.write_ram_pages(0, src));
        CHECK(w.write_iteration_end(1));
        CHECK(w.write_end());
        CHECK(w.stats().zero_pages + w.stats().data_pages == kPages);
    });
    std::vector<uint8_t> ram;
    auto lines = read_all(std::move(b), src.size(), &ram);
    writer.join();
    CHECK(lines.back().starts_with("end "));
    CHECK(ram == src);
}

TEST_CASE("stream reader: skip_ram checks the data without keeping it") {
    StreamReader r(file_with(sample_stream()), {kSampleRamBytes});
    REQUIRE(r.read_header());
    int skipped = 0;
    for (;;) {
        auto rec = r.next();
        REQUIRE(rec);
        if (auto* ram = std::get_if<RamRecord>(&*rec); ram && !ram->zero) {
            REQUIRE(r.skip_ram());
            ++skipped;
        }
        if (std::holds_alternative<EndOfStream>(*rec)) break;
    }
    CHECK(skipped == 2);
    auto past = r.next();
    REQUIRE_FALSE(past);
    CHECK(past.error().message() == "migration stream: read past the end marker");
}

TEST_CASE("stream format: the example of docs/migration-stream.md, byte for byte") {
    StreamWriter w(UniqueFd(memfd_create("stream-example", MFD_CLOEXEC)));
    REQUIRE(w.write_header());
    REQUIRE(w.write_section({"cpu/0", 0, 2, 1}, as_bytes("{}")));
    REQUIRE(w.write_zero_pages(16, 3));
    REQUIRE(w.write_end());
    UniqueFd fd = w.release_fd();
    const std::vector<uint8_t> expected = {
        0x4d, 0x4f, 0x4c, 0x54, 0x4d, 0x49, 0x47, 0x0a, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x78, 0x38, 0x36, 0x5f, 0x36, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x74, 0xa5, 0x79, 0x9a, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x96, 0x4b, 0x77, 0x39, 0x63, 0x70, 0x75, 0x2f, 0x30, 0x7b, 0x7d, 0xdd, 0x67, 0x39,
        0x05, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x90, 0xe5, 0x45, 0x5b, 0x04, 0x00, 0x00,
        0x00, 0x07, 0x68, 0xea, 0xb6, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5f,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5f, 0x68, 0x86, 0x27,
    };
    CHECK(file_bytes(fd.get()) == expected);
    const uint8_t record_crcs[] = {0x96, 0x4b, 0x77, 0x39, 0xdd, 0x67, 0x39,
                                   0x05, 0x90, 0xe5, 0x45, 0x5b};
    CHECK(crc32c(record_crcs) == get_u32(expected.data() + 0x63));
}
