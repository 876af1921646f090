// EventLoop over epoll; see event_loop.h.
#include "runtime/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace molt {

namespace {
constexpr int kMaxEvents = 64;
}

Result<EventLoop> EventLoop::create() {
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return Error::from_errno(errno, "epoll_create1");
    UniqueFd wakeup(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wakeup) return Error::from_errno(errno, "eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeup.get();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wakeup.get(), &ev) < 0)
        return Error::from_errno(errno, "epoll_ctl(wakeup)");
    return EventLoop(std::move(epoll), std::move(wakeup));
}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::add(int fd, uint32_t events, Handler handler) {
    if (fd < 0 || fd == m_wakeup.get() || watching(fd))
        return Error("event loop: fd " + std::to_string(fd) + " cannot be watched twice");
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        return Error::from_errno(errno, "epoll_ctl(add fd " + std::to_string(fd) + ")");
    m_watches[fd] = std::make_shared<Watch>(Watch{std::move(handler)});
    return ok();
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
    if (!watching(fd)) return Error("event loop: fd " + std::to_string(fd) + " is not watched");
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) < 0)
        return Error::from_errno(errno, "epoll_ctl(modify fd " + std::to_string(fd) + ")");
    return ok();
}

void EventLoop::remove(int fd) {
    if (m_watches.erase(fd) == 0) return;
    // Fails only if fd was already closed, which also removed it from epoll.
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

Result<int> EventLoop::run_once(int timeout_ms) {
    epoll_event events[kMaxEvents];
    int n = ::epoll_wait(m_epoll.get(), events, kMaxEvents, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        return Error::from_errno(errno, "epoll_wait");
    }
    int called = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (fd == m_wakeup.get()) {
            uint64_t count;
            // Drains the counter; EAGAIN (already drained) is fine.
            [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
            continue;
        }
        // Looked up per event: an earlier handler may have removed it (or
        // removed it and added another watch on a reused fd number).
        auto it = m_watches.find(fd);
        if (it == m_watches.end()) continue;
        std::shared_ptr<Watch> watch = it->second;
        watch->handler(events[i].events);
        called++;
    }
    return called;
}

void EventLoop::wake() {
    uint64_t one = 1;
    // Cannot fail short of a counter overflow, which still wakes the loop.
    [[maybe_unused]] ssize_t r = ::write(m_wakeup.get(), &one, sizeof one);
}

}  // namespace molt
