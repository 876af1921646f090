// What a virtio device model gives its transport (hw/virtio): identity,
// features, queues, configuration space, and what it does when the driver
// starts it or notifies a queue.  virtio 1.2 sections 2-3.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hw/memory/guest_memory.h"
#include "hw/virtio/queue.h"

namespace molt::hw::virtio {

inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;   // VIRTIO_F_VERSION_1

class Device {
public:
    virtual ~Device() = default;
    virtual uint32_t device_id() const = 0;
    // Must include kFeatureVersion1 (molt offers modern devices only).
    virtual uint64_t device_features() const = 0;
    virtual size_t queue_count() const = 0;
    virtual uint16_t queue_max_size() const { return 256; }
    virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write_config(uint64_t, std::span<const uint8_t>) {}
    // DRIVER_OK: the queues are configured and valid; the device may use
    // them from now on.  An Error puts the device in NEEDS_RESET.
    virtual Result<void> activate(uint64_t features, std::vector<Queue>& queues,
                                  const GuestMemory& ram) = 0;
    // A state load (STYLE.md 6) left the transport with DRIVER_OK: from
    // now on the device uses `queues`, as after activate(), but it must
    // not run yet (no guest memory access, no backend I/O); it runs when
    // next notified or told backend_ready().  After reset().
    virtual void restore(uint64_t features, std::vector<Queue>& queues, const GuestMemory& ram) = 0;
    // QueueNotify for queue `index`; an Error puts the device in NEEDS_RESET.
    virtual Result<void> notify(size_t index) = 0;
    // The driver wrote 0 to Status: back to the initial state.
    virtual void reset() = 0;
    // The backend has work (e.g. its TAP is readable); main thread, with
    // the transport's lock held.  An Error puts the device in NEEDS_RESET.
    virtual Result<void> backend_ready() { return ok(); }
};

}  // namespace molt::hw::virtio
