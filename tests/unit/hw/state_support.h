// Test support for device state (tests/unit/hw): an interrupt line that
// records its level, and TAP devices for virtio-net state tests (inside a
// network namespace of this test process, brought up so that frames can
// be written; nullopt without root or /dev/net/tun).
#pragma once

#include <doctest/doctest.h>

#include <linux/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "hw/irq.h"
#include "hw/virtio/net/tap.h"

namespace molt::hw::test {

struct LevelIrq : IrqLine {
    bool level = false;
    void set_level(bool high) override { level = high; }
};

inline bool can_make_taps() {
    return geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0;
}

inline std::optional<virtio::Tap> open_tap() {
    static bool in_namespace = false;
    static int count = 0;
    if (!can_make_taps()) return std::nullopt;
    if (!in_namespace) {
        REQUIRE(unshare(CLONE_NEWNET) == 0);
        // No IPv6 on the new TAPs: the kernel would send its own frames
        // (router solicitations, MLD reports) into them at any moment,
        // and a test would receive them.
        std::FILE* f = std::fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
        if (f) {
            std::fputs("1", f);
            std::fclose(f);
        }
        in_namespace = true;
    }
    std::string name = "moltst" + std::to_string(count++);
    Result<virtio::Tap> tap = virtio::Tap::open(name);
    REQUIRE_MESSAGE(tap, tap.error().message());
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    REQUIRE(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    REQUIRE(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    close(s);
    return std::move(*tap);
}

}  // namespace molt::hw::test
