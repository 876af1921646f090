// Unit tests of the limits the receiving side of a migration
// (migration/engine/incoming) puts on what a source may make it keep: the
// count and total size of device sections, and the fd count a TAP section
// announces; and the length of the destination's verdict line.  A stream one over each bound fails with a message naming the
// bound; one at the bound is received.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "migration/engine/incoming.h"
#include "migration/engine/verdict.h"
#include "migration/stream/writer.h"

using namespace molt;
using namespace molt::migration;

namespace {

constexpr size_t kRamBytes = 16 * stream::kPageBytes;

// Guest RAM for the receiver: page-aligned, as a real backend's.
struct Ram {
    Ram() {
        void* p = mmap(nullptr, kRamBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        bytes = std::span(static_cast<uint8_t*>(p), kRamBytes);
    }
    ~Ram() { munmap(bytes.data(), bytes.size()); }
    std::span<uint8_t> bytes;
};

// A whole stream in a memfd: the header, what add() writes, the end.
template <class Add>
UniqueFd stream_with(Add&& add) {
    stream::StreamWriter w(UniqueFd(memfd_create("incoming-limits", MFD_CLOEXEC)));
    REQUIRE(w.write_header());
    add(w);
    REQUIRE(w.write_end());
    UniqueFd fd = w.release_fd();
    REQUIRE(lseek(fd.get(), 0, SEEK_SET) == 0);
    return fd;
}

// Receives the stream; "ok N sections" or the error's message.
std::string receive(UniqueFd fd) {
    Ram ram;
    Incoming in(ram.bytes, std::move(fd), -1, std::nullopt, [] {});
    in.start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!in.finished() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(in.finished());
    if (std::optional<Error> e = in.error()) return e->message();
    return "ok " + std::to_string(in.take_sections().size()) + " sections";
}

std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("limits: at most kMaxDeviceSections device sections are kept") {
    auto sections = [](size_t n) {
        return stream_with([n](stream::StreamWriter& w) {
            for (size_t i = 0; i < n; ++i) {
                REQUIRE(w.write_section({"virtio-net/n" + std::to_string(i), 0, 1, 1}, bytes_of("{}")));
            }
        });
    };
    CHECK(receive(sections(Incoming::kMaxDeviceSections)) == "ok 64 sections");
    CHECK(receive(sections(Incoming::kMaxDeviceSections + 1)) ==
          "migration stream: more than 64 device sections or 64 MiB of device state (section 'virtio-net/n64')");
}

TEST_CASE("limits: at most kMaxDeviceStateBytes of device state is kept") {
    // Four sections of the largest size fill the limit exactly; one byte
    // more in a fifth is over it.
    const std::vector<uint8_t> big(stream::kMaxSectionPayloadBytes, '{');
    static_assert(Incoming::kMaxDeviceStateBytes == 4 * size_t{stream::kMaxSectionPayloadBytes});
    auto sections = [&](bool one_more) {
        return stream_with([&](stream::StreamWriter& w) {
            for (int i = 0; i < 4; ++i) REQUIRE(w.write_section({"cpu/" + std::to_string(i), 0, 1, 1}, big));
            if (one_more) REQUIRE(w.write_section({"serial/com1", 0, 1, 1}, bytes_of("{")));
        });
    };
    CHECK(receive(sections(false)) == "ok 4 sections");
    CHECK(receive(sections(true)) ==
          "migration stream: more than 64 device sections or 64 MiB of device state (section 'serial/com1')");
}

TEST_CASE("limits: a TAP section announces 1 to 16 fds") {
    auto tap = [](const std::string& payload) {
        return stream_with([&](stream::StreamWriter& w) {
            REQUIRE(w.write_section({"tap/net0", 0, 1, 1}, bytes_of(payload)));
        });
    };
    const std::string refused = "section 'tap/net0': Parameter 'fds' expects a value between 1 and 16";
    CHECK(receive(tap(R"({"fds": 0, "ifname": "tap0"})")) == refused);
    CHECK(receive(tap(R"({"fds": 17, "ifname": "tap0"})")) == refused);
    CHECK(receive(tap(R"({"fds": -1, "ifname": "tap0"})")) == refused);
}

TEST_CASE("limits: a verdict line is at most 4096 bytes, cut by the sender, refused by the reader") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd a(sv[0]), b(sv[1]);
    // A long refusal arrives cut, still one line.
    REQUIRE(send_verdict(a.get(), std::string(10000, 'x')));
    Result<void> cut = await_verdict(b.get(), 2000);
    REQUIRE(!cut);
    CHECK(cut.error().message() == "the destination refused the migration: " + std::string(4091, 'x'));
    // A peer that never ends its line is not read beyond the limit.
    std::string endless(5000, 'y');
    REQUIRE(write(a.get(), endless.data(), endless.size()) == static_cast<ssize_t>(endless.size()));
    Result<void> refused = await_verdict(b.get(), 2000);
    REQUIRE(!refused);
    CHECK(refused.error().message() == "the destination's verdict is longer than 4096 bytes");
}
