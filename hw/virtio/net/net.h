// virtio-net (hw/virtio/net), virtio 1.2 section 5.1: a network device on
// a TAP backend.
//
// Queues: 0 receive, 1 transmit (no multiqueue, no control queue).
// Features: VERSION_1, MAC, STATUS (link up).  Frames carry the 12-byte
// virtio_net_hdr_v1, which the TAP (IFF_VNET_HDR) shares, so they are
// copied between guest buffers and the TAP unchanged.  Both directions
// run on the main loop (STYLE.md 7): a queue notification (vCPU thread)
// only records a kick and wakes the loop, which then calls
// backend_ready(): transmit what the driver queued, receive while the TAP
// has frames and the guest has buffers.  A frame that finds no
// receive buffer waits (one frame) until the driver posts one; while it
// waits, wants_tap_readable() is false so the main loop stops polling the
// TAP.  Guest mistakes (bad chains, oversized frames) are Errors: the
// transport sets NEEDS_RESET.  Called under the transport's lock.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <vector>

#include "hw/virtio/device.h"
#include "hw/virtio/net/tap.h"

namespace molt::hw::virtio {

class Net : public Device {
public:
    static constexpr uint64_t kFeatureMac = uint64_t{1} << 5;
    static constexpr uint64_t kFeatureStatus = uint64_t{1} << 16;
    static constexpr size_t kMaxFrame = Tap::kVnetHeaderBytes + 65535 + 14;

    Net(Tap tap, std::array<uint8_t, 6> mac) : m_tap(std::move(tap)), m_mac(mac) {}

    uint32_t device_id() const override { return 1; }
    uint64_t device_features() const override { return kFeatureVersion1 | kFeatureMac | kFeatureStatus; }
    size_t queue_count() const override { return 2; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    Result<void> activate(uint64_t features, std::vector<Queue>& queues, const GuestMemory& ram) override;
    void restore(uint64_t features, std::vector<Queue>& queues, const GuestMemory& ram) override;
    Result<void> notify(size_t index) override;
    void reset() override;
    Result<void> backend_ready() override;

    const Tap& tap() const { return m_tap; }
    // The TAP that arrived for a pending one (the machine is paused).
    void adopt_tap(Tap tap) { m_tap = std::move(tap); }
    // Called (any thread) when the device wants its TAP watched again.
    void set_wake(std::function<void()> wake) { m_wake = std::move(wake); }
    // False while a received frame waits for a guest buffer.
    bool wants_tap_readable() const { return m_tap_interest.load(); }
    // The driver notified a queue since the last backend_ready() (any
    // thread; the main loop then calls backend_ready()).
    bool kicked() const { return m_kicked.load(); }

    struct Counters {
        uint64_t tx_frames = 0, rx_frames = 0, tx_dropped = 0, rx_dropped = 0;
    };
    Counters counters() const { return m_counters; }

    // Sends one self-announcement frame (announce.h) out of the TAP, as if
    // the guest had: counted as transmitted, or dropped when the TAP's
    // queue is full.  Main thread.
    Result<void> announce();

    // Device state (STYLE.md 6; net_state.cpp): the MAC, a received frame
    // waiting for a buffer, the kicks not yet served, the counters.
    // check_state() refuses another MAC or an oversized frame; load()
    // checks, then applies (after the transport's load, which reset the
    // device); on an Error nothing changed.  With the transport's lock
    // held (MmioTransport::with_device_lock), main thread, vCPU paused.
    api::VirtioNetState save() const;
    Result<void> check_state(const api::VirtioNetState& state) const;
    Result<void> load(const api::VirtioNetState& state);

private:
    Result<void> transmit();
    Result<void> receive();

    Tap m_tap;
    std::array<uint8_t, 6> m_mac;
    std::vector<Queue>* m_queues = nullptr;
    const GuestMemory* m_ram = nullptr;
    // Separate buffers: a received frame may wait in m_rx_frame while the
    // driver transmits.
    std::vector<uint8_t> m_rx_frame = std::vector<uint8_t>(kMaxFrame);
    std::vector<uint8_t> m_tx_frame = std::vector<uint8_t>(kMaxFrame);
    size_t m_pending = 0;   // bytes of a received frame waiting for a buffer
    std::atomic<bool> m_tap_interest{true};
    std::atomic<bool> m_kicked{false};
    std::atomic<bool> m_tx_kicked{false};
    std::function<void()> m_wake;
    Counters m_counters;
};

}  // namespace molt::hw::virtio
