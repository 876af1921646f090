// announce_frame(); see announce.h.
#include "hw/virtio/net/announce.h"

#include <algorithm>

namespace molt::hw::virtio {

std::array<uint8_t, kAnnounceFrameBytes> announce_frame(const std::array<uint8_t, 6>& mac) {
    std::array<uint8_t, kAnnounceFrameBytes> f{};   // the padding stays zero
    uint8_t* p = f.data();
    auto put = [&p](std::initializer_list<uint8_t> bytes) { p = std::copy(bytes.begin(), bytes.end(), p); };
    auto put_mac = [&p, &mac] { p = std::copy(mac.begin(), mac.end(), p); };
    put({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});   // destination: broadcast
    put_mac();                                    // source
    put({0x80, 0x35});                            // EtherType: RARP
    put({0x00, 0x01});                            // hardware: Ethernet
    put({0x08, 0x00});                            // protocol: IPv4
    put({6, 4});                                  // address lengths
    put({0x00, 0x03});                            // opcode: request reverse
    put_mac();                                    // sender hardware address
    put({0, 0, 0, 0});                            // sender IP
    put_mac();                                    // target hardware address
    put({0, 0, 0, 0});                            // target IP
    return f;
}

}  // namespace molt::hw::virtio
