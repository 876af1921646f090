// Unit tests of runtime/unique_fd, runtime/event_loop and runtime/timer on
// real pipes, eventfds, timerfds and threads.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "runtime/event_loop.h"
#include "runtime/timer.h"
#include "runtime/unique_fd.h"

using molt::EventLoop;
using molt::UniqueFd;

namespace {

struct Pipe {
    UniqueFd read_end, write_end;
};

Pipe make_pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

}  // namespace

TEST_CASE("UniqueFd closes on destruction and reset, not after release") {
    Pipe p = make_pipe();
    int r = p.read_end.get();
    {
        UniqueFd moved = std::move(p.read_end);
        CHECK_FALSE(p.read_end.valid());
        CHECK(moved.get() == r);
        CHECK(is_open(r));
    }
    CHECK_FALSE(is_open(r));

    int w = p.write_end.release();
    CHECK_FALSE(p.write_end.valid());
    CHECK(is_open(w));
    UniqueFd again(w);
    again.reset();
    CHECK_FALSE(is_open(w));
}

TEST_CASE("EventLoop calls the handler of a readable fd, and stops after remove") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    Pipe p = make_pipe();
    int calls = 0;
    uint32_t seen = 0;
    REQUIRE(loop->add(p.read_end.get(), EPOLLIN, [&](uint32_t ev) {
        calls++;
        seen = ev;
        char buf[8];
        CHECK(::read(p.read_end.get(), buf, sizeof buf) == 1);
    }));
    CHECK(*loop->run_once(0) == 0);  // nothing ready yet
    REQUIRE(::write(p.write_end.get(), "x", 1) == 1);
    CHECK(*loop->run_once(1000) == 1);
    CHECK(calls == 1);
    CHECK((seen & EPOLLIN) != 0);

    loop->remove(p.read_end.get());
    CHECK_FALSE(loop->watching(p.read_end.get()));
    REQUIRE(::write(p.write_end.get(), "y", 1) == 1);
    CHECK(*loop->run_once(0) == 0);
    CHECK(calls == 1);
}

TEST_CASE("EventLoop refuses a second watch and unknown modifications") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    Pipe p = make_pipe();
    REQUIRE(loop->add(p.read_end.get(), EPOLLIN, [](uint32_t) {}));
    auto twice = loop->add(p.read_end.get(), EPOLLIN, [](uint32_t) {});
    REQUIRE_FALSE(twice);
    CHECK(twice.error().message().find("cannot be watched twice") != std::string::npos);
    auto unknown = loop->modify(p.write_end.get(), EPOLLOUT);
    REQUIRE_FALSE(unknown);
    CHECK(loop->add(-1, EPOLLIN, [](uint32_t) {}).has_value() == false);
}

TEST_CASE("EventLoop: modify switches to write readiness") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    Pipe p = make_pipe();
    int writable = 0;
    REQUIRE(loop->add(p.write_end.get(), 0, [&](uint32_t ev) { writable += (ev & EPOLLOUT) != 0; }));
    CHECK(*loop->run_once(0) == 0);
    REQUIRE(loop->modify(p.write_end.get(), EPOLLOUT));
    CHECK(*loop->run_once(1000) == 1);
    CHECK(writable == 1);
}

TEST_CASE("EventLoop: a handler may remove its own and another watch") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    Pipe a = make_pipe();
    Pipe b = make_pipe();
    int a_calls = 0, b_calls = 0;
    int a_fd = a.read_end.get(), b_fd = b.read_end.get();
    auto remove_both = [&](uint32_t) {
        loop->remove(a_fd);
        loop->remove(b_fd);
    };
    REQUIRE(loop->add(a_fd, EPOLLIN, [&](uint32_t ev) { a_calls++; remove_both(ev); }));
    REQUIRE(loop->add(b_fd, EPOLLIN, [&](uint32_t ev) { b_calls++; remove_both(ev); }));
    REQUIRE(::write(a.write_end.get(), "x", 1) == 1);
    REQUIRE(::write(b.write_end.get(), "x", 1) == 1);
    CHECK(*loop->run_once(1000) == 1);  // whichever ran first removed the other
    CHECK(a_calls + b_calls == 1);
    CHECK_FALSE(loop->watching(a_fd));
    CHECK_FALSE(loop->watching(b_fd));
}

TEST_CASE("EventLoop: wake() from another thread ends a blocking wait") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    std::thread waker([&] { loop->wake(); });
    auto n = loop->run_once(10000);  // returns at once, not after 10 s
    waker.join();
    REQUIRE(n);
    CHECK(*n == 0);
}

TEST_CASE("Timer: fires once after its delay, on the loop; stop cancels; re-armable") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    int fired = 0;
    auto timer = molt::Timer::create(*loop, [&] { fired++; });
    REQUIRE(timer);
    CHECK_FALSE((*timer)->armed());
    CHECK(*loop->run_once(50) == 0);           // disarmed: nothing
    uint64_t t0 = molt::monotonic_ms();
    REQUIRE((*timer)->start(100));
    CHECK((*timer)->armed());
    while (fired == 0 && molt::monotonic_ms() - t0 < 2000) REQUIRE(loop->run_once(2000));
    CHECK(fired == 1);
    CHECK(molt::monotonic_ms() - t0 >= 100);
    CHECK_FALSE((*timer)->armed());
    CHECK(*loop->run_once(200) == 0);          // one-shot
    REQUIRE((*timer)->start(50));
    (*timer)->stop();
    CHECK(*loop->run_once(200) == 0);
    CHECK(fired == 1);
    REQUIRE((*timer)->start(0));               // "at once"
    CHECK(*loop->run_once(1000) == 1);
    CHECK(fired == 2);
}

TEST_CASE("Timer: destroying an armed timer removes its watch") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    int fired = 0;
    {
        auto timer = molt::Timer::create(*loop, [&] { fired++; });
        REQUIRE(timer);
        REQUIRE((*timer)->start(10));
    }
    CHECK(*loop->run_once(100) == 0);
    CHECK(fired == 0);
    // Its fd number can be watched again by someone else.
    Pipe p = make_pipe();
    CHECK(loop->add(p.read_end.get(), EPOLLIN, [](uint32_t) {}));
}

TEST_CASE("Timer: its callback may destroy it (and its captures stay valid until it returns)") {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    std::unique_ptr<molt::Timer> timer;
    std::string seen;
    auto created = molt::Timer::create(*loop, [&timer, &seen, name = std::string("seq-1")] {
        timer.reset();
        seen = name;   // a capture, read after its timer is gone
    });
    REQUIRE(created);
    timer = std::move(*created);
    REQUIRE(timer->start(0));
    CHECK(*loop->run_once(1000) == 1);
    CHECK(timer == nullptr);
    CHECK(seen == "seq-1");
    CHECK(*loop->run_once(20) == 0);   // its watch went with it
}
