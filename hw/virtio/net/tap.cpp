// Tap; see tap.h.  ioctls per the kernel's Documentation/networking/tuntap.rst.
#include "hw/virtio/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace molt::hw::virtio {

Result<void> Tap::configure(int fd) {
    int size = kVnetHeaderBytes;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) return Error::from_errno(errno, "TUNSETVNETHDRSZ");
    if (ioctl(fd, TUNSETOFFLOAD, 0) < 0) return Error::from_errno(errno, "TUNSETOFFLOAD");
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return Error::from_errno(errno, "O_NONBLOCK");
    }
    return ok();
}

Result<Tap> Tap::open(const std::string& ifname) {
    if (ifname.size() >= IFNAMSIZ) return Error("interface name '" + ifname + "' is too long");
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "could not open /dev/net/tun");
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
        return Error::from_errno(errno, "could not configure /dev/net/tun (" +
                                            (ifname.empty() ? std::string("new TAP") : ifname) + ")");
    }
    MOLT_TRY(configure(fd.get()));
    return Tap(std::move(fd), std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)));
}

Result<Tap> Tap::adopt(UniqueFd fd) {
    ifreq ifr{};
    if (ioctl(fd.get(), TUNGETIFF, &ifr) < 0) return Error::from_errno(errno, "not a TAP fd (TUNGETIFF)");
    if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_VNET_HDR) || !(ifr.ifr_flags & IFF_NO_PI)) {
        return Error("the TAP fd must be opened with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR");
    }
    MOLT_TRY(configure(fd.get()));
    return Tap(std::move(fd), std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)));
}

Result<size_t> Tap::read_frame(std::span<uint8_t> buf) const {
    while (true) {
        ssize_t n = ::read(m_fd.get(), buf.data(), buf.size());
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return size_t{0};
        return Error::from_errno(errno, "TAP " + m_ifname + ": read");
    }
}

Result<bool> Tap::write_frame(std::span<const uint8_t> frame) const {
    while (true) {
        ssize_t n = ::write(m_fd.get(), frame.data(), frame.size());
        if (n >= 0) return true;
        if (errno == EINTR) continue;
        // EIO: the interface is down (not IFF_UP); the frame is lost as on
        // a cable nobody listens to, and the device works on.
        if (errno == EAGAIN || errno == ENOBUFS || errno == EIO) return false;
        return Error::from_errno(errno, "TAP " + m_ifname + ": write");
    }
}

}  // namespace molt::hw::virtio
