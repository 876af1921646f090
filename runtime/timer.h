// Timer: a one-shot timer in the main loop (runtime/), a CLOCK_MONOTONIC
// timerfd watched by an EventLoop (STYLE.md 5: built on UniqueFd).
//
// The callback runs on the main thread from EventLoop::run_once() when
// the timer expires; start() again re-arms it, stop() cancels it.  The
// timer removes its watch when destroyed, so it may die before its loop
// but not after it; the callback may destroy its own timer.  Main thread
// only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "runtime/event_loop.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt {

// Milliseconds of the host's monotonic clock (CLOCK_MONOTONIC, what QEMU
// calls QEMU_CLOCK_REALTIME).
uint64_t monotonic_ms();

class Timer {
public:
    // A disarmed timer watched by loop, which must outlive it.
    static Result<std::unique_ptr<Timer>> create(EventLoop& loop, std::function<void()> on_expiry);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Arms the timer to expire once, delay_ms from now (0: at once).
    Result<void> start(uint64_t delay_ms);
    void stop();
    bool armed() const { return m_armed; }

private:
    Timer(EventLoop& loop, UniqueFd fd, std::function<void()> on_expiry)
        : m_loop(loop),
          m_fd(std::move(fd)),
          m_on_expiry(std::make_shared<std::function<void()>>(std::move(on_expiry))) {}
    void expired();

    EventLoop& m_loop;
    UniqueFd m_fd;
    // Shared with expired() while it runs: a callback that destroys its
    // timer stays alive until it returns (main thread only).
    std::shared_ptr<std::function<void()>> m_on_expiry;
    bool m_armed = false;
};

}  // namespace molt
