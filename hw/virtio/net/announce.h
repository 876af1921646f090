// Self-announcement frames (hw/virtio/net): what a NIC sends after its
// guest moved to another host, so that switches and bridges learn the
// MAC's new port at once instead of when the guest next transmits.
//
// The frame is QEMU's: a RARP request (EtherType 0x8035, opcode 3
// "request reverse") broadcast from the MAC, naming the MAC as both sender
// and target with zero IP addresses, padded to the 60-byte Ethernet
// minimum.  Nothing in the guest needs to know of it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace molt::hw::virtio {

inline constexpr size_t kAnnounceFrameBytes = 60;

// The frame, without any virtio-net header.
std::array<uint8_t, kAnnounceFrameBytes> announce_frame(const std::array<uint8_t, 6>& mac);

}  // namespace molt::hw::virtio
