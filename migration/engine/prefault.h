// Prefaulter: the destination's guest RAM faulted in ahead of the threads
// that receive into it.  Why: the first write to a fresh page costs a page
// fault (and, on a virtual machine, often one in the hypervisor too); the
// receiving thread that pays it alone runs at the first-touch rate, not at
// the channel's (measured here: 0.4-1.0 GB/s for one thread, about twice
// that with two).  A second thread populating the next megabytes in
// parallel (MADV_POPULATE_WRITE: page tables filled, contents untouched)
// leaves the receiver with a plain copy.
//
// Only memory right after data that arrived is prefaulted, at most kAhead
// beyond it: zero pages are never written by the receiver, so RAM that the
// source sends as zero stays unallocated except for that window.
// Without MADV_POPULATE_WRITE (Linux < 5.14) it does nothing; on a single
// CPU it is not started (Incoming), as it could only slow the receiver.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>

namespace molt::migration {

class Prefaulter {
public:
    static constexpr uint64_t kChunk = 2 << 20;   // one populate call (a huge page)
    static constexpr uint64_t kAhead = 64 << 20;  // how far beyond the data

    explicit Prefaulter(std::span<uint8_t> ram);
    ~Prefaulter();   // stops and joins the thread
    Prefaulter(const Prefaulter&) = delete;
    Prefaulter& operator=(const Prefaulter&) = delete;

    // A receiving thread wrote data ending at byte `end` of ram (any thread).
    void wrote(uint64_t end);
    // Bytes populated so far (for tests and figures).
    uint64_t populated() const { return m_populated.load(std::memory_order_relaxed); }

private:
    void run();

    std::span<uint8_t> m_ram;
    std::atomic<uint64_t> m_front{0};   // the chunk after the last data reported (0: none yet)
    std::atomic<uint64_t> m_populated{0};
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace molt::migration
