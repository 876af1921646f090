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

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "hw/accel/vcpu.h"

namespace molt::hw {

class VcpuThread {
public:
    // ResetRequested: the guest asked for a reset; the vCPU waits for the
    // machine to do it.
    enum class State { Paused, Running, Halted, Failed, ResetRequested };

    VcpuThread(Vcpu& vcpu, std::function<void()> notify);
    ~VcpuThread();   // stops and joins

    void resume();
    void pause();
    // After a reset: back to Paused, the fault forgotten.
    void rearm();
    State state() const;
    std::optional<Error> failure() const;

    // CPU throttling (migration auto-converge), as QEMU: for `percent`
    // (0..99) of the time the vCPU sleeps - after each 10 ms of guest code
    // it sleeps 10 ms * percent / (100 - percent).  0: no throttling.
    // Any thread.
    void set_throttle(int percent);
    int throttle() const { return m_throttle.load(); }

private:
    void loop();
    void throttle_loop();
    // After a pause that only the throttle asked for: sleep, then go on.
    void throttle_sleep(std::unique_lock<std::mutex>& lock);

    Vcpu& m_vcpu;
    std::function<void()> m_notify;
    mutable std::mutex m_lock;
    std::condition_variable m_cv;
    State m_state = State::Paused;
    bool m_want_run = false;
    bool m_in_guest = false;
    bool m_exit = false;
    std::optional<Error> m_failure;
    std::atomic<int> m_throttle{0};
    bool m_throttle_kicked = false;
    uint64_t m_runs = 0;               // times the vCPU entered guest code
    std::thread m_throttle_thread;     // started by the first set_throttle
    std::thread m_thread;
};

}  // namespace molt::hw
