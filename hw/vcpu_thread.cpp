// VcpuThread; see vcpu_thread.h.
#include "hw/vcpu_thread.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>

namespace molt::hw {

VcpuThread::VcpuThread(Vcpu& vcpu, std::function<void()> notify)
    : m_vcpu(vcpu), m_notify(std::move(notify)), m_thread([this] { loop(); }) {}

VcpuThread::~VcpuThread() {
    {
        std::unique_lock lock(m_lock);
        m_exit = true;
        m_want_run = false;
        m_vcpu.request_pause();
        m_cv.notify_all();
    }
    m_thread.join();
    if (m_throttle_thread.joinable()) m_throttle_thread.join();
}

void VcpuThread::loop() {
    pthread_setname_np(pthread_self(), m_vcpu.thread_name());
    m_vcpu.on_thread_start();
    std::unique_lock lock(m_lock);
    while (true) {
        m_cv.wait(lock, [this] { return m_exit || (m_want_run && m_state == State::Running); });
        if (m_exit) return;
        m_in_guest = true;
        ++m_runs;
        m_cv.notify_all();
        lock.unlock();
        Result<Vcpu::Exit> r = m_vcpu.run();
        lock.lock();
        m_in_guest = false;
        bool report = false;
        if (!r) {
            m_state = State::Failed;
            m_failure = r.error();
            report = true;
        } else if (*r == Vcpu::Exit::Halted) {
            m_state = State::Halted;
            report = true;
        } else if (*r == Vcpu::Exit::Reset) {
            m_state = State::ResetRequested;
            report = true;
        } else if (m_throttle_kicked && m_want_run && !m_exit) {
            throttle_sleep(lock);
        }
        m_cv.notify_all();
        if (report && m_notify) m_notify();
    }
}

void VcpuThread::throttle_sleep(std::unique_lock<std::mutex>& lock) {
    m_throttle_kicked = false;
    m_vcpu.clear_pause();
    int pct = m_throttle.load();
    if (pct <= 0) return;
    auto sleep = std::chrono::microseconds(10000 * pct / (100 - pct));
    m_cv.wait_for(lock, sleep, [this] { return m_exit || !m_want_run; });
}

void VcpuThread::set_throttle(int percent) {
    percent = std::clamp(percent, 0, 99);
    std::unique_lock lock(m_lock);
    m_throttle.store(percent);
    if (percent > 0 && !m_throttle_thread.joinable()) {
        m_throttle_thread = std::thread([this] { throttle_loop(); });
    }
    m_cv.notify_all();
}

// Kicks the vCPU out of guest code after each 10 ms it spends there.
void VcpuThread::throttle_loop() {
    pthread_setname_np(pthread_self(), "cpu-throttle");
    std::unique_lock lock(m_lock);
    while (!m_exit) {
        m_cv.wait(lock, [this] { return m_exit || (m_throttle.load() > 0 && m_in_guest); });
        if (m_exit) return;
        uint64_t episode = m_runs;
        m_cv.wait_for(lock, std::chrono::milliseconds(10),
                      [this, episode] { return m_exit || m_runs != episode || !m_in_guest; });
        if (!m_exit && m_in_guest && m_runs == episode && m_throttle.load() > 0 && m_want_run) {
            m_throttle_kicked = true;
            m_vcpu.request_pause();
            // Wait until the vCPU has taken the kick before the next period.
            m_cv.wait(lock, [this, episode] { return m_exit || m_runs != episode || !m_want_run; });
        }
    }
}

void VcpuThread::resume() {
    std::unique_lock lock(m_lock);
    m_throttle_kicked = false;
    m_vcpu.clear_pause();
    m_want_run = true;
    if (m_state == State::Paused) m_state = State::Running;
    m_cv.notify_all();
}

void VcpuThread::pause() {
    std::unique_lock lock(m_lock);
    m_want_run = false;
    m_vcpu.request_pause();
    m_cv.wait(lock, [this] { return !m_in_guest; });
    if (m_state == State::Running) m_state = State::Paused;
    m_vcpu.clear_pause();
}

void VcpuThread::rearm() {
    pause();
    std::unique_lock lock(m_lock);
    m_state = State::Paused;
    m_failure.reset();
}

VcpuThread::State VcpuThread::state() const {
    std::unique_lock lock(m_lock);
    return m_state;
}

std::optional<Error> VcpuThread::failure() const {
    std::unique_lock lock(m_lock);
    return m_failure;
}

}  // namespace molt::hw
