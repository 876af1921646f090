// A split virtqueue, device side (hw/virtio), per virtio 1.2 section 2.7.
//
//   driver (guest)                          device (molt)
//   descriptor table  [size] {addr, len, flags, next}
//   available ring    {flags, idx, ring[size]}  --pop()-->  Chain
//   used ring         {flags, idx, ring[size]{id, len}}  <--push_used()
//
// Everything in these rings is written by the guest and untrusted: every
// index, length and address is checked, chains longer than the queue (a
// loop) are refused, and readable descriptors must come before writable
// ones (2.7.4.2).  Indirect descriptors are not offered.  A malformed
// queue is an Error; the device then sets NEEDS_RESET and stops using it
// (STYLE.md 4): molt keeps running.  Called with the device's lock held.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "hw/memory/guest_memory.h"
#include "qapi-types-machine-state.h"

namespace molt::hw::virtio {

inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;

struct Segment {
    uint64_t gpa;
    uint32_t len;
};

// One descriptor chain: what the device may read, then what it may write.
struct Chain {
    uint16_t head;
    std::vector<Segment> readable;
    std::vector<Segment> writable;
    uint64_t readable_bytes = 0;
    uint64_t writable_bytes = 0;
};

class Queue {
public:
    explicit Queue(uint16_t max_size) : m_max_size(max_size) {}

    // Driver-side configuration (through the transport's registers).
    uint16_t max_size() const { return m_max_size; }
    uint16_t size() const { return m_size; }
    void set_size(uint16_t n) { m_size = n; }
    void set_desc(uint64_t gpa) { m_desc = gpa; }
    void set_avail(uint64_t gpa) { m_avail = gpa; }
    void set_used(uint64_t gpa) { m_used = gpa; }
    uint64_t desc() const { return m_desc; }
    uint64_t avail() const { return m_avail; }
    uint64_t used() const { return m_used; }
    bool ready() const { return m_ready; }
    void set_ready(bool r) { m_ready = r; }

    // Checks the configuration when the driver makes the queue ready:
    // size a power of two in 1..max, rings aligned (2.7) and inside RAM.
    Result<void> validate(const GuestMemory& ram) const;

    // The next available chain, or nullopt when the driver has posted
    // nothing new.
    Result<std::optional<Chain>> pop(const GuestMemory& ram);
    // Gives the last popped chain back to the available ring, unused.
    void undo_pop() { --m_next_avail; }
    // Returns a chain to the driver with `written` bytes in its buffers.
    Result<void> push_used(const GuestMemory& ram, uint16_t head, uint32_t written);
    // Whether chains were used since the last call and the driver wants
    // to hear of it (its avail flags lack VIRTQ_AVAIL_F_NO_INTERRUPT,
    // 2.7.7); unreadable flags count as wanting it.
    bool take_signal(const GuestMemory& ram);

    void reset();
    // The device-side indices.
    uint16_t next_avail() const { return m_next_avail; }
    uint16_t next_used() const { return m_next_used; }

    // Device state (STYLE.md 6): configuration and indices.  A ready
    // queue of a running device (`device_running`: DRIVER_OK without
    // NEEDS_RESET) must pass validate() in `ram`, and the device may hold
    // at most `size` chains (next-avail - next-used); a queue the device
    // does not use may hold whatever the driver wrote.  load() takes a
    // checked state.
    api::VirtqueueState save() const;
    Result<void> check_state(const api::VirtqueueState& state, const GuestMemory& ram,
                             bool device_running) const;
    void load(const api::VirtqueueState& state);

private:
    Result<Chain> walk(const GuestMemory& ram, uint16_t head) const;

    uint16_t m_max_size;
    uint16_t m_size = 0;
    uint64_t m_desc = 0, m_avail = 0, m_used = 0;
    bool m_ready = false;
    uint16_t m_next_avail = 0;
    uint16_t m_next_used = 0;
    uint16_t m_signalled_used = 0;
};

}  // namespace molt::hw::virtio
