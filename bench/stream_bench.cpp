// Benchmark: the migration stream library (migration/stream) moving guest
// RAM between two threads over a unix socketpair, as the engine will
// between two molt processes: the writer sends 256 MiB of non-zero pages
// (write_ram_pages: zero check, CRC32C, writev), the reader receives them
// into a pre-faulted destination (read_ram_into: read in place, CRC32C).
// Beside it, for scale: the bare socket with plain write/read of 1 MiB,
// and the per-byte costs alone (CRC32C on data in cache and in DRAM, the
// zero-page check).  Prints one line
// per case: "NAME GB/s" (best of 3 rounds), for bench/run.py.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "migration/stream/crc32c.h"
#include "migration/stream/reader.h"
#include "migration/stream/writer.h"
#include "migration/stream/zero_pages.h"

using namespace molt;
using namespace molt::migration::stream;

namespace {

constexpr size_t kRamBytes = size_t{256} << 20;
constexpr size_t kChunkBytes = size_t{1} << 20;   // what the engine hands the writer at once

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double gbps(size_t bytes, double seconds) { return static_cast<double>(bytes) / seconds / 1e9; }

std::pair<UniqueFd, UniqueFd> socket_pair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

void die(const Error& e) {
    std::fprintf(stderr, "stream-bench: %s\n", e.message().c_str());
    std::exit(1);
}

double stream_round(const std::vector<uint8_t>& src, std::vector<uint8_t>& dst) {
    auto [a, b] = socket_pair();
    auto start = std::chrono::steady_clock::now();
    std::thread writer([&src, fd = std::move(a)]() mutable {
        StreamWriter w(std::move(fd));
        if (auto r = w.write_header(); !r) die(r.error());
        for (size_t off = 0; off < src.size(); off += kChunkBytes) {
            auto chunk = std::span(src).subspan(off, kChunkBytes);
            if (auto r = w.write_ram_pages(off / kPageBytes, chunk); !r) die(r.error());
        }
        if (auto r = w.write_end(); !r) die(r.error());
    });
    StreamReader reader(std::move(b), {dst.size()});
    if (auto h = reader.read_header(); !h) die(h.error());
    for (;;) {
        auto rec = reader.next();
        if (!rec) die(rec.error());
        if (std::holds_alternative<EndOfStream>(*rec)) break;
        const auto& ram = std::get<RamRecord>(*rec);
        auto dest = std::span(dst).subspan(ram.first_page * kPageBytes, ram.data_bytes());
        if (!ram.zero) {
            if (auto r = reader.read_ram_into(dest); !r) die(r.error());
        }
    }
    double s = seconds_since(start);
    writer.join();
    return s;
}

double socket_round(const std::vector<uint8_t>& src, std::vector<uint8_t>& dst) {
    auto [a, b] = socket_pair();
    auto start = std::chrono::steady_clock::now();
    std::thread writer([&src, fd = std::move(a)]() mutable {
        for (size_t off = 0; off < src.size();) {
            ssize_t n = write(fd.get(), src.data() + off, std::min(kChunkBytes, src.size() - off));
            if (n <= 0) std::abort();
            off += static_cast<size_t>(n);
        }
    });
    for (size_t off = 0; off < dst.size();) {
        ssize_t n = read(b.get(), dst.data() + off, std::min(kChunkBytes, dst.size() - off));
        if (n <= 0) std::abort();
        off += static_cast<size_t>(n);
    }
    double s = seconds_since(start);
    writer.join();
    return s;
}

template <class F>
double best_gbps(size_t bytes, F&& round) {
    double best = 0;
    for (int i = 0; i < 3; ++i) best = std::max(best, gbps(bytes, round()));
    return best;
}

}  // namespace

int main() {
    std::vector<uint8_t> src(kRamBytes);
    for (size_t i = 0; i < src.size(); i += 8) src[i] = static_cast<uint8_t>(i / 8 | 1);
    std::vector<uint8_t> dst(kRamBytes, 0xee);   // pre-faulted
    std::printf("stream-256MiB-socketpair %.2f\n",
                best_gbps(kRamBytes, [&] { return stream_round(src, dst); }));
    if (dst != src) {
        std::fprintf(stderr, "stream-bench: destination differs from source\n");
        return 1;
    }
    std::printf("bare-socket-256MiB %.2f\n",
                best_gbps(kRamBytes, [&] { return socket_round(src, dst); }));
    // Per-byte costs on data in cache, as the writer meets it (1 MiB at a
    // time): CRC32C, and the zero check of zero pages (its worst case; a
    // data page is usually decided by its first word).
    auto hot = std::span(src).first(kChunkBytes);
    std::printf("crc32c-%s-1MiB-hot %.2f\n", crc32c_hardware() ? "sse42" : "table",
                best_gbps(kRamBytes, [&] {
                    auto start = std::chrono::steady_clock::now();
                    uint32_t crc = 0;
                    for (size_t off = 0; off < kRamBytes; off += kChunkBytes)
                        crc ^= crc32c(hot, crc);
                    volatile uint32_t sink = crc;
                    (void)sink;
                    return seconds_since(start);
                }));
    std::printf("crc32c-256MiB-cold %.2f\n", best_gbps(kRamBytes, [&] {
                    auto start = std::chrono::steady_clock::now();
                    volatile uint32_t sink = crc32c(src);
                    (void)sink;
                    return seconds_since(start);
                }));
    std::vector<uint8_t> zeros(kChunkBytes, 0);
    std::printf("zero-check-1MiB-zero-pages %.2f\n", best_gbps(kRamBytes, [&] {
                    auto start = std::chrono::steady_clock::now();
                    std::vector<PageRun> runs;
                    for (size_t off = 0; off < kRamBytes; off += kChunkBytes)
                        split_page_runs(off / kPageBytes, zeros, runs);
                    return seconds_since(start);
                }));
    return 0;
}
