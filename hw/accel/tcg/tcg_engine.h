// A Unicorn engine made ready ahead of its vCPU (hw/accel/tcg).
//
// Unicorn sets up its translator (code buffer, TCG context) lazily, on the
// first memory mapping: 4-8 ms here, most of a tcg machine's creation.  A
// live update's destination has that time to spare while it waits for
// the old process's fds, but not after them (the guest is paused then):
// warm() does the set-up early, with a throw-away mapping, and
// TcgVcpu::create() takes the engine over.
#pragma once

#include "runtime/result.h"

struct uc_struct;

namespace molt::hw {

class TcgEngine {
public:
    static Result<TcgEngine> warm();
    TcgEngine(TcgEngine&& o) noexcept : m_uc(o.m_uc) { o.m_uc = nullptr; }
    TcgEngine& operator=(TcgEngine&& o) noexcept;
    TcgEngine(const TcgEngine&) = delete;
    TcgEngine& operator=(const TcgEngine&) = delete;
    ~TcgEngine();
    // Gives the engine up (to TcgVcpu, which closes it).
    uc_struct* release();

private:
    explicit TcgEngine(uc_struct* uc) : m_uc(uc) {}
    uc_struct* m_uc;
};

}  // namespace molt::hw
