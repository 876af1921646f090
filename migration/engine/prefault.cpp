// Prefaulter; see prefault.h.
#include "migration/engine/prefault.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

namespace molt::migration {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

Prefaulter::Prefaulter(std::span<uint8_t> ram) : m_ram(ram) {
    if (m_ram.size() < kChunk) return;
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "mig/dst/fault");
        run();
    });
}

Prefaulter::~Prefaulter() {
    {
        std::lock_guard guard(m_lock);
        m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void Prefaulter::wrote(uint64_t end) {
    uint64_t chunk = (end + kChunk - 1) / kChunk;
    uint64_t front = m_front.load(std::memory_order_relaxed);
    // Only a new chunk wakes the thread: a plain load for most records.
    if (chunk == front) return;
    m_front.store(chunk, std::memory_order_relaxed);
    std::lock_guard guard(m_lock);
    m_cv.notify_one();
}

void Prefaulter::run() {
    const uint64_t chunks = m_ram.size() / kChunk;
    const uint64_t ahead = kAhead / kChunk;
    uint64_t next = 0;   // the next chunk to populate
    std::unique_lock guard(m_lock);
    while (!m_stop) {
        uint64_t front = m_front.load(std::memory_order_relaxed);
        // Behind the receivers is done already; far before the last position
        // means a new pass over dirty pages (mostly present: cheap to redo).
        if (next < front || next > front + 2 * ahead) next = front;
        // Nothing reported yet (front 0): nothing to do.
        uint64_t target = front == 0 ? 0 : std::min(chunks, front + ahead);
        if (next >= target) {
            m_cv.wait(guard, [&] { return m_stop || m_front.load(std::memory_order_relaxed) != front; });
            continue;
        }
        guard.unlock();
        if (madvise(m_ram.data() + next * kChunk, kChunk, MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
            return;   // an older kernel: nothing to do
        }
        m_populated.fetch_add(kChunk, std::memory_order_relaxed);
        ++next;
        guard.lock();
    }
}

}  // namespace molt::migration
