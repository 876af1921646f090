// EventLoop: molt's main-thread loop over epoll (STYLE.md section 7).
//
// QMP sockets, serial input, TAP, queue-notify eventfds, signalfd, timers
// and migration sockets all register here.  A handler is called with the
// ready events (EPOLLIN, EPOLLOUT, EPOLLHUP...) and must not block.
// Handlers may add or remove watches, including their own, while being
// called; a watch removed during one round is not called later in it.
// wake() may be called from any thread (a vCPU, a signal handler) to make
// run_once() return early; everything else is main-thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt {

class EventLoop {
public:
    using Handler = std::function<void(uint32_t events)>;

    static Result<EventLoop> create();

    EventLoop(EventLoop&&) noexcept = default;
    EventLoop& operator=(EventLoop&&) noexcept = default;
    ~EventLoop();

    // Watches fd (borrowed: the caller keeps it open until remove()) for
    // events (EPOLLIN | EPOLLOUT ...).  An fd may be watched once.
    Result<void> add(int fd, uint32_t events, Handler handler);
    // Changes the events an added fd is watched for.
    Result<void> modify(int fd, uint32_t events);
    // Stops watching fd; unknown fds are ignored.
    void remove(int fd);
    bool watching(int fd) const { return m_watches.count(fd) != 0; }

    // Waits up to timeout_ms (-1: no limit) and calls the ready handlers.
    // Returns how many were called; an interrupted wait (EINTR) is 0.
    Result<int> run_once(int timeout_ms);
    // Makes a pending or the next run_once() return; thread-safe.
    void wake();

private:
    struct Watch {
        Handler handler;
    };
    EventLoop(UniqueFd epoll, UniqueFd wakeup) : m_epoll(std::move(epoll)), m_wakeup(std::move(wakeup)) {}

    UniqueFd m_epoll;
    UniqueFd m_wakeup;  // eventfd; read by the loop itself
    // Watches are held by shared_ptr so that a handler that removes its
    // own watch keeps its std::function alive until it returns (main
    // thread only).
    std::unordered_map<int, std::shared_ptr<Watch>> m_watches;
};

}  // namespace molt
