// A TAP device as virtio-net's backend (hw/virtio/net), STYLE.md 5
// (Firecracker's Tap).
//
// Opened from /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, or
// adopted from an fd someone else opened (-netdev tap,fd=; CPR), made
// non-blocking.  With the vnet header every frame carries virtio-net's
// 12-byte header (virtio_net_hdr_v1), so frames pass between the guest's
// buffers and the TAP without translation.  No offloads are enabled yet.
// Main thread (reads) and the vCPU thread (writes) may use it at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::hw::virtio {

class Tap {
public:
    static constexpr int kVnetHeaderBytes = 12;

    // Creates or attaches to interface `ifname` (empty: the kernel picks).
    static Result<Tap> open(const std::string& ifname);
    // Adopts an open TAP fd (its flags are checked with TUNGETIFF).
    static Result<Tap> adopt(UniqueFd fd);
    // No fd yet: a local migration's destination, whose TAP arrives with
    // the migration stream (backend-transfer in mode normal).
    static Tap pending(std::string ifname) { return Tap(UniqueFd(), std::move(ifname)); }
    // Any non-blocking fd that keeps frame boundaries, unchecked: a
    // SOCK_SEQPACKET socketpair stands in for a TAP in the fuzz targets
    // (fuzz/fuzz_virtqueue.cpp), where no real interface may be made.
    static Tap unchecked(UniqueFd fd, std::string ifname) { return Tap(std::move(fd), std::move(ifname)); }
    bool is_pending() const { return !m_fd; }

    int fd() const { return m_fd.get(); }
    // The name its fd goes under in the CPR state (backend-transfer);
    // device_id: the virtio-net device's id.
    static std::string cpr_fd_name(const std::string& device_id) { return "tap/" + device_id; }
    const std::string& ifname() const { return m_ifname; }

    // One frame (with its vnet header); 0 when none is pending.
    Result<size_t> read_frame(std::span<uint8_t> buf) const;
    // One frame; false when the TAP's queue is full or the interface is
    // down (the frame is dropped, as a wire would).
    Result<bool> write_frame(std::span<const uint8_t> frame) const;

private:
    Tap(UniqueFd fd, std::string ifname) : m_fd(std::move(fd)), m_ifname(std::move(ifname)) {}
    static Result<void> configure(int fd);
    UniqueFd m_fd;
    std::string m_ifname;
};

}  // namespace molt::hw::virtio
