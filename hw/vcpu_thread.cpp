// VcpuThread; see vcpu_thread.h.
#include "hw/vcpu_thread.h"

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
}

void VcpuThread::loop() {
    m_vcpu.on_thread_start();
    std::unique_lock lock(m_lock);
    while (true) {
        m_cv.wait(lock, [this] { return m_exit || (m_want_run && m_state == State::Running); });
        if (m_exit) return;
        m_in_guest = true;
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
        }
        m_cv.notify_all();
        if (report && m_notify) m_notify();
    }
}

void VcpuThread::resume() {
    std::unique_lock lock(m_lock);
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
