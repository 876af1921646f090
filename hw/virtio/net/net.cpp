// Net; see net.h.  Configuration layout (5.1.4): u8 mac[6], le16 status.
#include "hw/virtio/net/net.h"

#include <algorithm>
#include <cstring>

#include "hw/virtio/net/announce.h"

namespace molt::hw::virtio {

namespace {
constexpr size_t kRx = 0, kTx = 1;
constexpr uint16_t kLinkUp = 1;
}  // namespace

void Net::read_config(uint64_t offset, std::span<uint8_t> data) {
    uint8_t config[8];
    std::memcpy(config, m_mac.data(), 6);
    std::memcpy(config + 6, &kLinkUp, 2);
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < sizeof(config) ? config[offset + i] : 0;
    }
}

Result<void> Net::activate(uint64_t, std::vector<Queue>& queues, const GuestMemory& ram) {
    m_queues = &queues;
    m_ram = &ram;
    return receive();
}

void Net::restore(uint64_t, std::vector<Queue>& queues, const GuestMemory& ram) {
    m_queues = &queues;
    m_ram = &ram;
}

Result<void> Net::notify(size_t index) {
    if (!m_queues) return ok();
    if (index == kTx) m_tx_kicked = true;
    m_kicked = true;
    if (m_wake) m_wake();
    return ok();
}

Result<void> Net::backend_ready() {
    if (!m_queues) return ok();
    m_kicked = false;
    if (m_tx_kicked.exchange(false)) MOLT_TRY(transmit());
    return receive();
}

void Net::reset() {
    m_queues = nullptr;
    m_ram = nullptr;
    m_pending = 0;
    m_tap_interest = true;
    m_kicked = false;
    m_tx_kicked = false;
}

Result<void> Net::announce() {
    std::array<uint8_t, Tap::kVnetHeaderBytes + kAnnounceFrameBytes> frame{};   // header: no offloads
    std::array<uint8_t, kAnnounceFrameBytes> rarp = announce_frame(m_mac);
    std::copy(rarp.begin(), rarp.end(), frame.begin() + Tap::kVnetHeaderBytes);
    if (MOLT_TRY(m_tap.write_frame(frame))) {
        ++m_counters.tx_frames;
    } else {
        ++m_counters.tx_dropped;
    }
    return ok();
}

Result<void> Net::transmit() {
    Queue& q = (*m_queues)[kTx];
    while (true) {
        std::optional<Chain> c = MOLT_TRY(q.pop(*m_ram));
        if (!c) return ok();
        if (c->readable_bytes > kMaxFrame || c->readable_bytes < Tap::kVnetHeaderBytes) {
            return Error("virtio-net: transmit chain of " + std::to_string(c->readable_bytes) +
                         " bytes");
        }
        size_t len = 0;
        for (const Segment& s : c->readable) {
            MOLT_TRY(m_ram->read(s.gpa, std::span(m_tx_frame.data() + len, s.len)));
            len += s.len;
        }
        if (MOLT_TRY(m_tap.write_frame(std::span(m_tx_frame.data(), len)))) {
            ++m_counters.tx_frames;
        } else {
            ++m_counters.tx_dropped;
        }
        MOLT_TRY(q.push_used(*m_ram, c->head, 0));
    }
}

Result<void> Net::receive() {
    if (!m_queues || !(*m_queues)[kRx].ready()) return ok();
    Queue& q = (*m_queues)[kRx];
    while (true) {
        if (m_pending == 0) {
            m_pending = MOLT_TRY(m_tap.read_frame(m_rx_frame));
            if (m_pending == 0) {
                if (!m_tap_interest.exchange(true) && m_wake) m_wake();
                return ok();
            }
        }
        std::optional<Chain> c = MOLT_TRY(q.pop(*m_ram));
        if (!c) {
            m_tap_interest = false;   // the frame waits for a buffer
            return ok();
        }
        if (c->writable_bytes < m_pending) {
            // 5.1.6.3.1: buffers SHOULD hold 1526 bytes; a frame that does
            // not fit is dropped, as on a wire, and the buffer kept.
            q.undo_pop();
            ++m_counters.rx_dropped;
            m_pending = 0;
            continue;
        }
        size_t done = 0;
        for (const Segment& s : c->writable) {
            size_t n = std::min<size_t>(s.len, m_pending - done);
            MOLT_TRY(m_ram->write(s.gpa, std::span(m_rx_frame.data() + done, n)));
            done += n;
            if (done == m_pending) break;
        }
        MOLT_TRY(q.push_used(*m_ram, c->head, static_cast<uint32_t>(m_pending)));
        ++m_counters.rx_frames;
        m_pending = 0;
    }
}

}  // namespace molt::hw::virtio
