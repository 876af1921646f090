// The vCPU thread and its run state (hw/): Paused, Running, Halted,
// Failed, driven from the main thread (STYLE.md 7).
//
// resume() lets the thread run guest code; pause() returns only once the
// vCPU has left guest code (a barrier), so the machine can be inspected
// or saved.  HLT leaves the vCPU Halted until the machine is reset (under
// tcg no interrupt can wake it); a guest fault leaves it Failed with the
// Error.  State changes the main loop must see (halt, failure) are
// reported through `notify`, called on the vCPU thread (it must only
// wake the main loop).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "hw/accel/vcpu.h"

namespace molt::hw {

class VcpuThread {
public:
    enum class State { Paused, Running, Halted, Failed };

    VcpuThread(Vcpu& vcpu, std::function<void()> notify);
    ~VcpuThread();   // stops and joins

    void resume();
    void pause();
    // After a reset: back to Paused, the fault forgotten.
    void rearm();
    State state() const;
    std::optional<Error> failure() const;

private:
    void loop();

    Vcpu& m_vcpu;
    std::function<void()> m_notify;
    mutable std::mutex m_lock;
    std::condition_variable m_cv;
    State m_state = State::Paused;
    bool m_want_run = false;
    bool m_in_guest = false;
    bool m_exit = false;
    std::optional<Error> m_failure;
    std::thread m_thread;
};

}  // namespace molt::hw
