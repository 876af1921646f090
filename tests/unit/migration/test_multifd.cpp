// Unit tests of multifd (migration/engine/multifd): how RAM is dealt to the
// channels, the handshake payload, and the destination's channels over
// real unix sockets - RAM arrives from several channels at once, and a
// channel of another migration, an index twice or a channel that never
// connects is refused with a clear message.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "migration/engine/multifd.h"
#include "migration/stream/writer.h"
#include "runtime/socket.h"

using namespace molt;
using namespace molt::migration;

namespace {

constexpr uint64_t kPage = stream::kPageBytes;

TEST_CASE("lane_pages deals 2 MiB chunks round-robin, each page to one channel") {
    const size_t pages = 5 * kLaneChunkPages + 100;   // a partial last chunk
    std::vector<uint64_t> dirty((pages + 63) / 64);
    for (size_t p = 0; p < pages; p += 3) dirty[p / 64] |= uint64_t{1} << (p % 64);
    for (size_t lanes : {size_t{1}, size_t{2}, size_t{3}, size_t{8}}) {
        std::vector<std::vector<uint64_t>> parts;
        for (size_t i = 0; i < lanes; ++i) parts.push_back(lane_pages(dirty, i, lanes));
        for (size_t p = 0; p < pages; ++p) {
            size_t owners = 0, owner = 0;
            for (size_t i = 0; i < lanes; ++i) {
                if ((parts[i][p / 64] >> (p % 64)) & 1) {
                    ++owners;
                    owner = i;
                }
            }
            bool set = (dirty[p / 64] >> (p % 64)) & 1;
            REQUIRE(owners == (set ? 1u : 0u));
            if (set) REQUIRE(owner == (p / kLaneChunkPages) % lanes);
        }
    }
}

TEST_CASE("the handshake payload round-trips and a wrong size is refused") {
    MultifdHello h{0x0123456789abcdefULL, 7};
    Result<MultifdHello> back = decode_hello(encode_hello(h));
    REQUIRE(back);
    CHECK(back->session == h.session);
    CHECK(back->channels == 7);
    Result<MultifdHello> bad = decode_hello({1, 2, 3});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "multifd: a handshake of 3 bytes, expected 12");
}

struct Listener {
    std::string dir, path;
    UniqueFd fd;
    Listener() {
        char tmpl[] = "/tmp/molt-multifd-XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        dir = tmpl;
        path = dir + "/s";
        Result<UniqueFd> l = listen_unix(path);
        REQUIRE(l);
        fd = std::move(*l);
    }
    ~Listener() {
        unlink(path.c_str());
        rmdir(dir.c_str());
    }
};

// One RAM channel: header, hello, pages [first, first + count) filled with
// their page number's low byte, end.
void send_lane(const std::string& path, MultifdHello hello, uint64_t first, uint64_t count) {
    Result<UniqueFd> c = connect_unix(path);
    REQUIRE(c);
    stream::StreamWriter w(std::move(*c));
    REQUIRE(w.write_header());
    REQUIRE(w.write_section(multifd_section_info(true), encode_hello(hello)));
    std::vector<uint8_t> data(count * kPage);
    for (uint64_t i = 0; i < count; ++i) std::fill_n(data.begin() + static_cast<long>(i * kPage), kPage,
                                                     static_cast<uint8_t>(first + i));
    REQUIRE(w.write_ram_data(first, data));
    REQUIRE(w.write_end());
}

}  // namespace

TEST_CASE("RAM arrives over several channels at once") {
    Listener l;
    std::vector<uint8_t> ram(64 * kPage);
    IncomingLanes lanes(ram, nullptr, [] {});
    const uint64_t session = 42;
    std::vector<std::thread> senders;
    for (uint32_t i = 0; i < 4; ++i) {
        senders.emplace_back([&, i] { send_lane(l.path, {session, i}, i * 16, 16); });
    }
    REQUIRE(lanes.start(l.fd.get(), {session, 4}, 10000));
    Result<void> done = lanes.join();
    for (std::thread& t : senders) t.join();
    REQUIRE_MESSAGE(done, (done ? "" : done.error().message()));
    for (uint64_t p = 0; p < 64; ++p) REQUIRE(ram[p * kPage + 100] == static_cast<uint8_t>(p));
    CHECK(lanes.bytes() > 64 * kPage);
}

TEST_CASE("a channel of another migration is refused") {
    Listener l;
    std::vector<uint8_t> ram(16 * kPage);
    bool failed = false;
    IncomingLanes lanes(ram, nullptr, [&failed] { failed = true; });
    std::thread sender([&] {
        Result<UniqueFd> c = connect_unix(l.path);
        REQUIRE(c);
        stream::StreamWriter w(std::move(*c));
        REQUIRE(w.write_header());
        REQUIRE(w.write_section(multifd_section_info(true), encode_hello({99, 0})));
        REQUIRE(w.flush());
        char b;
        (void)::read(w.release_fd().get(), &b, 1);   // until the destination closes
    });
    REQUIRE(lanes.start(l.fd.get(), {42, 1}, 10000));
    Result<void> done = lanes.join();
    sender.join();
    REQUIRE_FALSE(done);
    CHECK(done.error().message() == "multifd channel 0: the channel belongs to another migration");
    CHECK(failed);
}

TEST_CASE("the same channel index twice is refused") {
    Listener l;
    std::vector<uint8_t> ram(16 * kPage);
    IncomingLanes lanes(ram, nullptr, [] {});
    std::thread a([&] { send_lane(l.path, {7, 0}, 0, 1); });
    std::thread b([&] {
        Result<UniqueFd> c = connect_unix(l.path);
        REQUIRE(c);
        stream::StreamWriter w(std::move(*c));
        (void)w.write_header();
        (void)w.write_section(multifd_section_info(true), encode_hello({7, 0}));
        (void)w.flush();
        char x;
        (void)::read(w.release_fd().get(), &x, 1);
    });
    REQUIRE(lanes.start(l.fd.get(), {7, 2}, 10000));
    Result<void> done = lanes.join();
    a.join();
    b.join();
    REQUIRE_FALSE(done);
    CHECK(done.error().message().find("channel index 0 is out of range or repeated") != std::string::npos);
}

TEST_CASE("channels that never connect: a timeout, and no channel count is trusted blindly") {
    Listener l;
    std::vector<uint8_t> ram(16 * kPage);
    IncomingLanes lanes(ram, nullptr, [] {});
    Result<void> r = lanes.start(l.fd.get(), {1, 2}, 200);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "multifd: 0 of 2 channels connected in time");
    IncomingLanes more(ram, nullptr, [] {});
    Result<void> too_many = more.start(l.fd.get(), {1, 1000}, 200);
    REQUIRE_FALSE(too_many);
    CHECK(too_many.error().message() == "multifd: 1000 channels announced (1 to 255)");
    IncomingLanes none(ram, nullptr, [] {});
    Result<void> no_listener = none.start(-1, {1, 2}, 200);
    REQUIRE_FALSE(no_listener);
    CHECK(no_listener.error().message().find("does not listen on a socket") != std::string::npos);
}
