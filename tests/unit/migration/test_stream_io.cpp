// Unit tests of the migration stream's fd handling: a peer gone (EPIPE,
// never SIGPIPE on a socket), fds that refuse reads or writes, and EINTR
// in the middle of blocking reads and writes on a pipe.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/socket.h"
#include "stream_support.h"

using namespace molt;
using namespace molt::test;

namespace {

std::atomic<int> g_interrupts{0};

void count_interrupt(int) { ++g_interrupts; }

// SIGUSR1 counted, without SA_RESTART: a blocked read or write returns
// EINTR (or a partial count) when it arrives.
struct InterruptingSignal {
    struct sigaction old {};
    InterruptingSignal() {
        struct sigaction sa {};
        sa.sa_handler = count_interrupt;
        sigemptyset(&sa.sa_mask);
        REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    }
    ~InterruptingSignal() { sigaction(SIGUSR1, &old, nullptr); }
};

void interrupt(std::thread& t, int times) {
    for (int i = 0; i < times; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        pthread_kill(t.native_handle(), SIGUSR1);
    }
}

}  // namespace

TEST_CASE("stream io: a socket peer gone is EPIPE, not SIGPIPE") {
    // SIGPIPE keeps its default action here: if it were raised, the test
    // process would die.
    bool default_action = signal(SIGPIPE, SIG_DFL) != SIG_ERR;
    REQUIRE(default_action);
    auto [a, b] = make_socketpair();
    b.reset();
    StreamWriter w(std::move(a));
    REQUIRE(w.write_header());
    auto r = w.flush();
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "migration stream: write: Broken pipe");
    CHECK(r.error().errno_value() == EPIPE);
    // Sticky: later calls give the same Error.
    auto again = w.write_iteration_end(1);
    REQUIRE_FALSE(again);
    CHECK(again.error().message() == "migration stream: write: Broken pipe");
    // Large RAM data goes by the direct path; it fails the same way.
    auto [c, d] = make_socketpair();
    d.reset();
    StreamWriter big(std::move(c));
    REQUIRE(big.write_header());
    std::vector<uint8_t> pages(kMaxDataRunPages * kPageBytes, 1);
    auto ram = big.write_ram_data(0, pages);
    REQUIRE_FALSE(ram);
    CHECK(ram.error().errno_value() == EPIPE);
}

TEST_CASE("stream io: a pipe reader gone is EPIPE while SIGPIPE is ignored") {
    // As in molt (vmm/main.cpp): a pipe cannot use MSG_NOSIGNAL.
    auto old = signal(SIGPIPE, SIG_IGN);
    auto [in, out] = make_pipe();
    in.reset();
    StreamWriter w(std::move(out));
    REQUIRE(w.write_header());
    auto r = w.write_end();
    signal(SIGPIPE, old);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "migration stream: write: Broken pipe");
}

TEST_CASE("stream io: fds that cannot be written or read") {
    UniqueFd ro(open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(ro);
    StreamWriter w(std::move(ro));
    REQUIRE(w.write_header());
    auto r = w.flush();
    REQUIRE_FALSE(r);
    CHECK(r.error().errno_value() == EBADF);
    CHECK(r.error().message() == "migration stream: write: Bad file descriptor");

    UniqueFd wo(open("/dev/null", O_WRONLY | O_CLOEXEC));
    StreamReader reader(std::move(wo), {kSampleRamBytes});
    auto h = reader.read_header();
    REQUIRE_FALSE(h);
    CHECK(h.error().message() == "migration stream: read: Bad file descriptor");
    // Sticky as well.
    CHECK(reader.read_header().error().message() == h.error().message());
}

TEST_CASE("stream io: EINTR in blocked writes and reads is retried") {
    InterruptingSignal sig;
    g_interrupts = 0;
    std::vector<uint8_t> src = pages_of({1, 2, 3, 4, 5, 6, 7, 8});
    std::vector<uint8_t> big;
    for (int i = 0; i < 32; ++i) big.insert(big.end(), src.begin(), src.end());   // 1 MiB
    // The writer blocks on a full pipe (64 KiB) while nobody reads.
    auto [in, out] = make_pipe();
    std::thread writer([&, fd = std::move(out)]() mutable {
        StreamWriter w(std::move(fd));
        CHECK(w.write_header());
        CHECK(w.write_ram_data(0, big));
        CHECK(w.write_end());
    });
    interrupt(writer, 5);
    // The reader blocks on an empty pipe before its writer starts.
    auto [in2, out2] = make_pipe();
    std::vector<std::string> lines;
    std::vector<uint8_t> ram;
    std::thread reader([&, fd = std::move(in2)]() mutable {
        lines = read_all(std::move(fd), big.size(), &ram);
    });
    interrupt(reader, 5);
    // Now relay: read the first stream, write it into the second pipe.
    {
        UniqueFd relay_out = std::move(out2);
        auto first = read_all(std::move(in), big.size());
        CHECK(first.back() == "end 1 records " + std::to_string(32 + 24 + big.size() + 4) +
                                  " bytes");
        StreamWriter w(std::move(relay_out));
        CHECK(w.write_header());
        CHECK(w.write_ram_data(0, big));
        CHECK(w.write_end());
    }
    writer.join();
    reader.join();
    // Ten were sent; two that reach a thread before it runs again arrive
    // as one (a loaded machine made that happen once in make check).
    CHECK(g_interrupts >= 1);
    CHECK(g_interrupts <= 10);
    CHECK(lines.back().starts_with("end 1 records"));
    CHECK(ram == big);
}

TEST_CASE("stream io: file descriptors travel with a section over a UNIX socket") {
    auto [a, b] = make_socketpair();
    UniqueFd memfd(memfd_create("passed", MFD_CLOEXEC));
    REQUIRE(memfd);
    REQUIRE(write(memfd.get(), "tap", 3) == 3);
    std::thread writer([&, fd = a.get()] {
        StreamWriter w(UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3)));
        REQUIRE(w.write_header());
        // Sections before and after, so that the fds do not come with
        // the first or the last bytes only.
        std::vector<uint8_t> big(200 * 1024, 7);
        REQUIRE(w.write_section({"before", 0, 1, 1}, big));
        int fds[] = {memfd.get()};
        REQUIRE(w.write_section({"tap/net0", 0, 1, 1}, as_bytes("{\"fds\": 1}"), fds));
        REQUIRE(w.write_section({"after", 0, 1, 1}, as_bytes("x")));
        REQUIRE(w.write_end());
    });
    StreamReader r(std::move(b), {0, kHostArch});
    REQUIRE(r.read_header());
    std::vector<std::string> ids;
    UniqueFd got;
    while (true) {
        Result<Record> rec = r.next();
        REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().message()));
        if (std::holds_alternative<EndOfStream>(*rec)) break;
        auto& s = std::get<SectionRecord>(*rec);
        ids.push_back(s.info.id);
        if (s.info.id == "tap/net0") {
            Result<std::vector<UniqueFd>> fds = r.take_fds(1);
            REQUIRE(fds);
            got = std::move((*fds)[0]);
        }
    }
    writer.join();
    CHECK(ids == std::vector<std::string>{"before", "tap/net0", "after"});
    REQUIRE(got);
    char buf[4] = {};
    CHECK(pread(got.get(), buf, 3, 0) == 3);
    CHECK(std::string(buf) == "tap");   // the same file
    CHECK((fcntl(got.get(), F_GETFD) & FD_CLOEXEC) != 0);
    Result<std::vector<UniqueFd>> more = r.take_fds(1);
    REQUIRE(!more);
    CHECK(more.error().message() == "migration stream: 1 file descriptors announced, 0 arrived");
}

TEST_CASE("stream io: file descriptors need a socket") {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    UniqueFd rd(p[0]);
    StreamWriter w{UniqueFd(p[1])};
    REQUIRE(w.write_header());
    int fds[] = {0};
    Result<void> r = w.write_section({"tap/net0", 0, 1, 1}, as_bytes("{}"), fds);
    REQUIRE(!r);
    CHECK(r.error().message() == "migration stream: section 'tap/net0': file descriptors go over a UNIX socket only");
}

TEST_CASE("stream io: more than kMaxFds file descriptors in one stream are refused") {
    auto [a, b] = make_socketpair();
    UniqueFd memfd(memfd_create("passed", MFD_CLOEXEC));
    REQUIRE(memfd);
    // Five sections with 16 fds each (the most one message carries): the
    // fifth brings the stream's count to 80, over the limit of 64.
    std::vector<int> sixteen(kMaxFdsPerMessage, memfd.get());
    StreamWriter w(UniqueFd(fcntl(a.get(), F_DUPFD_CLOEXEC, 3)));
    REQUIRE(w.write_header());
    for (int i = 0; i < 5; ++i) {
        REQUIRE(w.write_section({"tap/net" + std::to_string(i), 0, 1, 1}, as_bytes("{}"), sixteen));
    }
    REQUIRE(w.write_end());
    StreamReader r(std::move(b), {0, kHostArch});
    REQUIRE(r.read_header());
    std::string outcome;
    for (int i = 0; i < 6 && outcome.empty(); ++i) {
        Result<Record> rec = r.next();
        if (!rec) outcome = rec.error().message();
    }
    CHECK(outcome == "migration stream: more than 64 file descriptors");
    // The reader is failed from then on: a later read says the same.
    Result<Record> again = r.next();
    REQUIRE(!again);
    CHECK(again.error().message() == outcome);
}
