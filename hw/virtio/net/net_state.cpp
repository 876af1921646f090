// Net's device state (schema VirtioNetState), saved and loaded for
// migration and snapshots (STYLE.md 6); see net.h.  A frame waiting for a
// receive buffer travels with the state, so a migration loses none.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "hw/virtio/net/net.h"

namespace molt::hw::virtio {

namespace {

std::string format_mac(const std::array<uint8_t, 6>& mac) {
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                  mac[4], mac[5]);
    return buf;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text) {
    if (text.size() != 17) return std::nullopt;
    std::array<uint8_t, 6> mac{};
    for (size_t i = 0; i < 6; ++i) {
        int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return std::nullopt;
        mac[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return mac;
}

}  // namespace

api::VirtioNetState Net::save() const {
    api::VirtioNetState s;
    s.mac = format_mac(m_mac);
    s.tap = m_tap.ifname();
    if (m_pending) s.rx_frame.emplace(m_rx_frame.begin(), m_rx_frame.begin() + static_cast<long>(m_pending));
    s.kicked = m_kicked.load();
    s.tx_kicked = m_tx_kicked.load();
    s.tx_frames = m_counters.tx_frames;
    s.rx_frames = m_counters.rx_frames;
    s.tx_dropped = m_counters.tx_dropped;
    s.rx_dropped = m_counters.rx_dropped;
    return s;
}

Result<void> Net::check_state(const api::VirtioNetState& s) const {
    std::optional<std::array<uint8_t, 6>> mac = parse_mac(s.mac);
    if (!mac) return Error("mac '" + s.mac + "' is not six hex bytes separated by ':'");
    if (*mac != m_mac) {
        return Error("mac " + format_mac(*mac) + " differs from this device's " + format_mac(m_mac));
    }
    if (s.rx_frame && (s.rx_frame->empty() || s.rx_frame->size() > kMaxFrame)) {
        return Error("rx-frame of " + std::to_string(s.rx_frame->size()) + " bytes (1 to " +
                     std::to_string(kMaxFrame) + ")");
    }
    return ok();
}

Result<void> Net::load(const api::VirtioNetState& s) {
    MOLT_TRY(check_state(s));
    m_pending = s.rx_frame ? s.rx_frame->size() : 0;
    if (m_pending) std::copy(s.rx_frame->begin(), s.rx_frame->end(), m_rx_frame.begin());
    // A waiting frame keeps the TAP unwatched until a buffer comes.
    m_tap_interest = m_pending == 0;
    m_kicked = s.kicked;
    m_tx_kicked = s.tx_kicked;
    m_counters = {s.tx_frames, s.rx_frames, s.tx_dropped, s.rx_dropped};
    return ok();
}

}  // namespace molt::hw::virtio
