// Queue; see queue.h.  Ring layouts (virtio 1.2 2.7.5-2.7.8): a
// descriptor is 16 bytes {le64 addr, le32 len, le16 flags, le16 next};
// the available ring {le16 flags, le16 idx, le16 ring[size]}; the used
// ring {le16 flags, le16 idx, {le32 id, le32 len}[size]}.  x86 is little
// endian, so the fields are read as they are.
#include "hw/virtio/queue.h"

#include <atomic>
#include <string>

namespace molt::hw::virtio {

namespace {

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Desc) == 16);

struct UsedElem {
    uint32_t id;
    uint32_t len;
};

Error bad(const std::string& what) { return Error("virtqueue: " + what); }

}  // namespace

Result<void> Queue::validate(const GuestMemory& ram) const {
    if (m_size == 0 || m_size > m_max_size || (m_size & (m_size - 1)) != 0) {
        return bad("size " + std::to_string(m_size) + " is not a power of two up to " +
                   std::to_string(m_max_size));
    }
    if (m_desc % 16 || m_avail % 2 || m_used % 4) return bad("misaligned ring address");
    if (!ram.contains(m_desc, uint64_t{16} * m_size) || !ram.contains(m_avail, 6 + uint64_t{2} * m_size) ||
        !ram.contains(m_used, 6 + uint64_t{8} * m_size)) {
        return bad("ring outside guest RAM");
    }
    return ok();
}

Result<Chain> Queue::walk(const GuestMemory& ram, uint16_t head) const {
    Chain c;
    c.head = head;
    uint16_t index = head;
    for (uint32_t count = 0;; ++count) {
        if (index >= m_size) return bad("descriptor index " + std::to_string(index) + " out of range");
        if (count >= m_size) return bad("descriptor chain loops or is longer than the queue");
        Desc d = MOLT_TRY(ram.read_obj<Desc>(m_desc + uint64_t{16} * index));
        if (d.flags & kDescIndirect) return bad("indirect descriptors were not negotiated");
        if (!ram.contains(d.addr, d.len)) return bad("buffer outside guest RAM");
        if (d.flags & kDescWrite) {
            c.writable.push_back({d.addr, d.len});
            c.writable_bytes += d.len;
        } else {
            if (!c.writable.empty()) return bad("readable descriptor after a writable one");
            c.readable.push_back({d.addr, d.len});
            c.readable_bytes += d.len;
        }
        if (!(d.flags & kDescNext)) return c;
        index = d.next;
    }
}

Result<std::optional<Chain>> Queue::pop(const GuestMemory& ram) {
    if (!m_ready) return std::optional<Chain>();
    uint16_t avail_idx = MOLT_TRY(ram.read_obj<uint16_t>(m_avail + 2));
    uint16_t pending = static_cast<uint16_t>(avail_idx - m_next_avail);
    if (pending == 0) return std::optional<Chain>();
    if (pending > m_size) return bad("available index moved by more than the queue size");
    uint64_t slot = m_avail + 4 + uint64_t{2} * (m_next_avail % m_size);
    uint16_t head = MOLT_TRY(ram.read_obj<uint16_t>(slot));
    Chain c = MOLT_TRY(walk(ram, head));
    ++m_next_avail;
    return std::optional<Chain>(std::move(c));
}

Result<void> Queue::push_used(const GuestMemory& ram, uint16_t head, uint32_t written) {
    uint64_t slot = m_used + 4 + uint64_t{8} * (m_next_used % m_size);
    MOLT_TRY(ram.write_obj(slot, UsedElem{head, written}));
    ++m_next_used;
    // The element is visible before the index (2.7.8.2): x86 keeps stores
    // in order; the fence keeps the compiler from reordering them.
    std::atomic_thread_fence(std::memory_order_release);
    return ram.write_obj(m_used + 2, m_next_used);
}

bool Queue::take_signal(const GuestMemory& ram) {
    if (m_signalled_used == m_next_used) return false;
    m_signalled_used = m_next_used;
    // The used index is globally visible before the driver's flags are read.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    Result<uint16_t> flags = ram.read_obj<uint16_t>(m_avail);
    constexpr uint16_t kNoInterrupt = 1;
    return !flags || !(*flags & kNoInterrupt);
}

api::VirtqueueState Queue::save() const {
    api::VirtqueueState s;
    s.size = m_size;
    s.ready = m_ready;
    s.desc = m_desc;
    s.avail = m_avail;
    s.used = m_used;
    s.next_avail = m_next_avail;
    s.next_used = m_next_used;
    s.signalled_used = m_signalled_used;
    return s;
}

Result<void> Queue::check_state(const api::VirtqueueState& s, const GuestMemory& ram,
                               bool device_running) const {
    if (!device_running || !s.ready) return ok();
    Queue q(m_max_size);
    q.load(s);
    MOLT_TRY(q.validate(ram));
    uint16_t held = static_cast<uint16_t>(s.next_avail - s.next_used);
    if (held > s.size) {
        return bad("next-avail " + std::to_string(s.next_avail) + " is more than the size ahead of next-used " +
                   std::to_string(s.next_used));
    }
    return ok();
}

void Queue::load(const api::VirtqueueState& s) {
    m_size = s.size;
    m_ready = s.ready;
    m_desc = s.desc;
    m_avail = s.avail;
    m_used = s.used;
    m_next_avail = s.next_avail;
    m_next_used = s.next_used;
    m_signalled_used = s.signalled_used;
}

void Queue::reset() {
    m_size = 0;
    m_desc = m_avail = m_used = 0;
    m_ready = false;
    m_next_avail = m_next_used = m_signalled_used = 0;
}

}  // namespace molt::hw::virtio
