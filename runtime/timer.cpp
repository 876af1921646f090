// Timer; see timer.h.
#include "runtime/timer.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace molt {

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

Result<std::unique_ptr<Timer>> Timer::create(EventLoop& loop, std::function<void()> on_expiry) {
    UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!fd) return Error::from_errno(errno, "timerfd_create");
    std::unique_ptr<Timer> t(new Timer(loop, std::move(fd), std::move(on_expiry)));
    Timer* self = t.get();
    MOLT_TRY(loop.add(t->m_fd.get(), EPOLLIN, [self](uint32_t) { self->expired(); }));
    return t;
}

Timer::~Timer() { m_loop.remove(m_fd.get()); }

Result<void> Timer::start(uint64_t delay_ms) {
    itimerspec spec{};
    // A zero it_value would disarm: "at once" is the smallest delay.
    uint64_t ns = delay_ms == 0 ? 1 : delay_ms * 1000000;
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    if (timerfd_settime(m_fd.get(), 0, &spec, nullptr) != 0) return Error::from_errno(errno, "timerfd_settime");
    m_armed = true;
    return ok();
}

void Timer::stop() {
    itimerspec spec{};
    timerfd_settime(m_fd.get(), 0, &spec, nullptr);
    uint64_t expirations;
    while (read(m_fd.get(), &expirations, sizeof(expirations)) > 0) {
    }
    m_armed = false;
}

void Timer::expired() {
    uint64_t expirations = 0;
    if (read(m_fd.get(), &expirations, sizeof(expirations)) != sizeof(expirations)) return;
    m_armed = false;
    std::shared_ptr<std::function<void()>> on_expiry = m_on_expiry;   // may destroy this
    (*on_expiry)();
}

}  // namespace molt
