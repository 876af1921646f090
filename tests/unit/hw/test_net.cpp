// Unit tests of virtio-net on a real TAP (hw/virtio/net), driven through
// the virtio-mmio transport as a guest driver would, with a queue builder
// on fake guest memory.  The TAP lives in a network namespace this test
// process enters (unshare), with a static ARP entry for the "guest"; real
// UDP sockets on the host side.  Needs root and /dev/net/tun: skipped
// with the reason otherwise.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "hw/virtio/mmio.h"
#include "hw/virtio/net/net.h"
#include "virtio_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::virtio;
using namespace molt::hw::virtio::test;

namespace {

constexpr std::array<uint8_t, 6> kGuestMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr const char* kIf = "molttap0";

bool can_make_taps() {
    return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

void ioctl_ok(int s, unsigned long req, void* arg, const char* what) {
    INFO(what);
    REQUIRE(ioctl(s, req, arg) == 0);
}

sockaddr_in inet(const char* ip, uint16_t port = 0) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

// Host side of the link: 10.9.0.1/24 on the TAP, 10.9.0.2 = the guest.
std::array<uint8_t, 6> configure_host_side() {
    std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + kIf + "/disable_ipv6") << "1";
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, kIf, IFNAMSIZ - 1);
    sockaddr_in a = inet("10.9.0.1");
    std::memcpy(&ifr.ifr_addr, &a, sizeof(a));
    ioctl_ok(s, SIOCSIFADDR, &ifr, "SIOCSIFADDR");
    a = inet("255.255.255.0");
    std::memcpy(&ifr.ifr_netmask, &a, sizeof(a));
    ioctl_ok(s, SIOCSIFNETMASK, &ifr, "SIOCSIFNETMASK");
    ioctl_ok(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    ioctl_ok(s, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS");
    ioctl_ok(s, SIOCGIFHWADDR, &ifr, "SIOCGIFHWADDR");
    std::array<uint8_t, 6> host_mac{};
    std::memcpy(host_mac.data(), ifr.ifr_hwaddr.sa_data, 6);
    arpreq arp{};
    a = inet("10.9.0.2");
    std::memcpy(&arp.arp_pa, &a, sizeof(a));
    arp.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(arp.arp_ha.sa_data, kGuestMac.data(), 6);
    arp.arp_flags = ATF_PERM | ATF_COM;
    std::strncpy(arp.arp_dev, kIf, sizeof(arp.arp_dev) - 1);
    ioctl_ok(s, SIOCSARP, &arp, "SIOCSARP");
    close(s);
    return host_mac;
}

uint16_t ip_checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t{p[i]} << 8 | p[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// vnet header + Ethernet + IPv4 + UDP (checksum 0) from the guest.
std::vector<uint8_t> udp_frame(const std::array<uint8_t, 6>& dst_mac, uint16_t dst_port,
                               const std::string& payload) {
    std::vector<uint8_t> f(12 + 14 + 20 + 8 + payload.size(), 0);
    uint8_t* eth = f.data() + 12;
    std::memcpy(eth, dst_mac.data(), 6);
    std::memcpy(eth + 6, kGuestMac.data(), 6);
    eth[12] = 0x08;
    uint8_t* ip = eth + 14;
    uint16_t total = static_cast<uint16_t>(20 + 8 + payload.size());
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>(total >> 8);
    ip[3] = static_cast<uint8_t>(total);
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t src[4] = {10, 9, 0, 2}, dst[4] = {10, 9, 0, 1};
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    uint16_t sum = ip_checksum(ip, 20);
    ip[10] = static_cast<uint8_t>(sum >> 8);
    ip[11] = static_cast<uint8_t>(sum);
    uint8_t* udp = ip + 20;
    udp[0] = 7777 >> 8;
    udp[1] = 7777 & 0xff;
    udp[2] = static_cast<uint8_t>(dst_port >> 8);
    udp[3] = static_cast<uint8_t>(dst_port);
    udp[4] = static_cast<uint8_t>((8 + payload.size()) >> 8);
    udp[5] = static_cast<uint8_t>(8 + payload.size());
    std::memcpy(udp + 8, payload.data(), payload.size());
    return f;
}

struct Driver {
    std::vector<uint8_t> host = std::vector<uint8_t>(1 << 20);
    GuestMemory ram{host};
    Net* net;
    MmioTransport mmio;
    QueueBuilder rx{ram, 0x1000, 0x2000, 0x3000};
    QueueBuilder tx{ram, 0x4000, 0x5000, 0x6000};

    explicit Driver(Tap tap)
        : net(new Net(std::move(tap), kGuestMac)), mmio(std::unique_ptr<Device>(net), ram) {}

    void wr(uint64_t off, uint32_t v) { mmio.write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }
    uint32_t rd(uint64_t off) {
        uint32_t v = 0;
        mmio.read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
        return v;
    }
    void queue(uint32_t index, const QueueBuilder& b) {
        wr(0x30, index);
        wr(0x38, kSize);
        wr(0x80, static_cast<uint32_t>(b.desc_base));
        wr(0x90, static_cast<uint32_t>(b.avail_base));
        wr(0xa0, static_cast<uint32_t>(b.used_base));
        wr(0x44, 1);
    }
    void start() {
        wr(0x70, 0);
        wr(0x70, 3);
        wr(0x24, 0);
        wr(0x20, 1u << 5);   // MAC
        wr(0x24, 1);
        wr(0x20, 1);         // VERSION_1
        wr(0x70, 11);
        queue(0, rx);
        queue(1, tx);
        wr(0x70, 15);
        REQUIRE(rd(0x70) == 15);
    }
};

}  // namespace

TEST_CASE("virtio-net on a real TAP: config, receive, transmit, a frame waiting for a buffer" *
          doctest::skip(!can_make_taps())) {
    REQUIRE(unshare(CLONE_NEWNET) == 0);   // this process's own network namespace
    Result<Tap> tap = Tap::open(kIf);
    REQUIRE_MESSAGE(tap, tap.error().message());
    CHECK(tap->ifname() == kIf);
    std::array<uint8_t, 6> host_mac = configure_host_side();
    Driver d(std::move(*tap));
    d.start();
    uint8_t mac[6];
    d.mmio.read(0x100, mac);
    CHECK(std::memcmp(mac, kGuestMac.data(), 6) == 0);

    // Host -> guest: no receive buffer yet, so the frame waits.
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in local = inet("10.9.0.1", 0);
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0);
    socklen_t len = sizeof(local);
    getsockname(s, reinterpret_cast<sockaddr*>(&local), &len);
    sockaddr_in guest = inet("10.9.0.2", 7777);
    REQUIRE(sendto(s, "ping", 4, 0, reinterpret_cast<sockaddr*>(&guest), sizeof(guest)) == 4);
    usleep(50000);
    d.mmio.backend_ready();
    CHECK_FALSE(d.net->wants_tap_readable());
    // Guest -> host while the frame waits (a transmit must not disturb
    // it): a UDP datagram to the host socket.
    std::vector<uint8_t> out = udp_frame(host_mac, ntohs(local.sin_port), "pong");
    REQUIRE(d.ram.write(0x20000, out));
    d.tx.desc(0, 0x20000, 12, kDescNext, 1);   // header and packet in two pieces
    d.tx.desc(1, 0x2000c, static_cast<uint32_t>(out.size() - 12), 0, 0);
    d.tx.post(0);
    d.wr(0x50, 1);
    CHECK(d.tx.used_idx() == 0);
    d.mmio.backend_ready();
    CHECK(d.tx.used_idx() == 1);
    char buf[16] = {};
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    timeval tv{2, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    REQUIRE(recvfrom(s, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen) == 4);
    CHECK(std::string(buf, 4) == "pong");
    CHECK(ntohs(from.sin_port) == 7777);
    // The driver posts a buffer and notifies: the frame arrives.
    d.rx.desc(0, 0x10000, 2048, kDescWrite, 0);
    d.rx.post(0);
    d.wr(0x50, 0);
    // The notification only kicks the device; the main loop then runs it.
    CHECK(d.rx.used_idx() == 0);
    REQUIRE(d.net->kicked());
    d.mmio.backend_ready();
    CHECK_FALSE(d.net->kicked());
    REQUIRE(d.rx.used_idx() == 1);
    uint32_t got = d.rx.used_len(0);
    REQUIRE(got == 12 + 14 + 20 + 8 + 4);
    std::vector<uint8_t> frame(got);
    REQUIRE(d.ram.read(0x10000, frame));
    CHECK(std::memcmp(frame.data() + 12, kGuestMac.data(), 6) == 0);   // to the guest's MAC
    CHECK(frame[12 + 12] == 0x08);                                     // IPv4
    CHECK(frame[12 + 14 + 9] == 17);                                   // UDP
    CHECK(std::memcmp(frame.data() + got - 4, "ping", 4) == 0);
    CHECK(d.net->wants_tap_readable());

    CHECK(d.net->counters().tx_frames == 1);
    CHECK(d.net->counters().rx_frames == 1);

    // A transmit chain shorter than the vnet header is a driver error.
    d.tx.desc(2, 0x20000, 4, 0, 0);
    d.tx.post(2);
    d.wr(0x50, 1);
    d.mmio.backend_ready();
    CHECK((d.rd(0x70) & 0x40) == 0x40);
    CHECK(d.mmio.failure().find("transmit chain of 4 bytes") != std::string::npos);
    // So is one longer than the largest frame (header + 64 KiB + Ethernet
    // header): refused before anything is copied into the frame buffer.
    d.start();   // a reset brings the device back
    d.tx.avail_idx = 0;
    d.tx.desc(3, 0x20000, static_cast<uint32_t>(Net::kMaxFrame + 1), 0, 0);
    d.tx.post(3);
    d.wr(0x50, 1);
    d.mmio.backend_ready();
    CHECK((d.rd(0x70) & 0x40) == 0x40);
    CHECK(d.mmio.failure().find("transmit chain of 65562 bytes") != std::string::npos);
    CHECK(d.net->counters().tx_frames == 1);   // nothing more went out
    close(s);
}

TEST_CASE("TAP: adopting an fd checks it is a vnet-header TAP" * doctest::skip(!can_make_taps())) {
    int p[2];
    REQUIRE(pipe(p) == 0);
    close(p[1]);
    Result<Tap> t = Tap::adopt(UniqueFd(p[0]));
    REQUIRE_FALSE(t);
    CHECK(t.error().message().find("not a TAP fd") != std::string::npos);
    Result<Tap> long_name = Tap::open("a-name-far-too-long-for-linux");
    REQUIRE_FALSE(long_name);
    CHECK(long_name.error().message() == "interface name 'a-name-far-too-long-for-linux' is too long");
}
