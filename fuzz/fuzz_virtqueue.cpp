// Fuzz target "virtqueue" (fuzz/README.md): a guest driver gone wrong.
// The input is a program of register accesses to the virtio-mmio
// transport (hw/virtio/mmio), writes into a fake guest memory (so the
// descriptor tables and rings the device walks are the fuzzer's: loops,
// indirect flags, out-of-range addresses and lengths, odd sizes), frames
// arriving on the backend, and state save/load round trips.  The device
// behind the transport is virtio-net (hw/virtio/net: its receive and
// transmit paths) on a SOCK_SEQPACKET socketpair standing in for the TAP,
// or, with bit 0 of the first byte, an echo device that pops every chain,
// reads its readable part and fills its writable part (Queue on its own).
// Bit 1 splits guest RAM into low RAM and RAM above 4 GiB.
//
// After the flags byte, operations, each an opcode byte (mod 8):
//   0 write   register byte (offset = byte * 4 % 0x200), 32-bit value
//   1 read    register byte
//   2 memory  16-bit host offset, length byte, the bytes
//   3 frame   16-bit length (mod 2048), the bytes: sent by the "TAP"
//   4 backend the main loop's backend_ready(), then what was sent is read
//   5 state   save, check_state, load (the transport's and, for Net, its own)
//   6 setup   a driver's whole start-up: queue size byte, then for each
//             queue three 16-bit addresses (gpa = v * 8, + 4 GiB if the
//             top bit is set), then DRIVER_OK
//   7 notify  queue byte
// Guest mistakes must end as NEEDS_RESET, never as a crash or a hang.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "hw/virtio/mmio.h"
#include "hw/virtio/net/net.h"

namespace {

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::virtio;

constexpr size_t kRamBytes = 64 * 1024;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

class Cursor {
public:
    Cursor(const uint8_t* d, size_t n) : m_d(d), m_n(n) {}
    bool more() const { return m_pos < m_n; }
    uint8_t u8() { return more() ? m_d[m_pos++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    uint32_t u32() { return u16() | (uint32_t{u16()} << 16); }
    std::span<const uint8_t> bytes(size_t n) {
        n = std::min(n, m_n - m_pos);
        std::span<const uint8_t> s(m_d + m_pos, n);
        m_pos += n;
        return s;
    }

private:
    const uint8_t* m_d;
    size_t m_n;
    size_t m_pos = 0;
};

// Pops every chain of a notified queue, reads what it may read, fills
// what it may write, and returns it used.
struct EchoDevice : Device {
    std::vector<Queue>* queues = nullptr;
    const GuestMemory* ram = nullptr;

    uint32_t device_id() const override { return 0x7f; }
    uint64_t device_features() const override { return kFeatureVersion1; }
    size_t queue_count() const override { return 2; }
    void read_config(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
    Result<void> activate(uint64_t, std::vector<Queue>& q, const GuestMemory& r) override {
        queues = &q;
        ram = &r;
        return ok();
    }
    void restore(uint64_t, std::vector<Queue>& q, const GuestMemory& r) override {
        queues = &q;
        ram = &r;
    }
    Result<void> notify(size_t index) override {
        Queue& q = (*queues)[index];
        for (int budget = 0; budget < 512; budget++) {
            std::optional<Chain> c = MOLT_TRY(q.pop(*ram));
            if (!c) return ok();
            std::vector<uint8_t> bytes;
            for (const Segment& s : c->readable) {
                std::vector<uint8_t> part(std::min<uint32_t>(s.len, 4096));
                MOLT_TRY(ram->read(s.gpa, part));
                bytes.insert(bytes.end(), part.begin(), part.end());
            }
            uint32_t written = 0;
            for (const Segment& s : c->writable) {
                std::vector<uint8_t> part(std::min<uint32_t>(s.len, 4096), 0x5a);
                MOLT_TRY(ram->write(s.gpa, part));
                written += static_cast<uint32_t>(part.size());
            }
            MOLT_TRY(q.push_used(*ram, c->head, written));
        }
        return ok();
    }
    void reset() override { queues = nullptr; }
};

void write32(MmioTransport& t, uint64_t offset, uint32_t v) {
    t.write(offset, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 4));
}

uint64_t gpa_of(uint16_t v) {
    return uint64_t{v & 0x7fffu} * 8 + ((v & 0x8000u) ? GuestMemory::kHighBase : 0);
}

void setup(MmioTransport& t, Cursor& c) {
    write32(t, 0x070, 0);
    write32(t, 0x070, 1 | 2);
    uint64_t features = t.device().device_features();
    write32(t, 0x024, 0);
    write32(t, 0x020, static_cast<uint32_t>(features));
    write32(t, 0x024, 1);
    write32(t, 0x020, static_cast<uint32_t>(features >> 32));
    write32(t, 0x070, 1 | 2 | 8);
    uint16_t size = c.u8();
    for (uint32_t q = 0; q < 2; q++) {
        write32(t, 0x030, q);
        write32(t, 0x038, size);
        for (uint64_t reg : {uint64_t{0x080}, uint64_t{0x090}, uint64_t{0x0a0}}) {
            uint64_t gpa = gpa_of(c.u16());
            write32(t, reg, static_cast<uint32_t>(gpa));
            write32(t, reg + 4, static_cast<uint32_t>(gpa >> 32));
        }
        write32(t, 0x044, 1);
    }
    write32(t, 0x070, 1 | 2 | 8 | 4);
}

void round_trip(MmioTransport& t, Net* net) {
    api::VirtioMmioState s = t.save();
    check(static_cast<bool>(t.check_state(s)));
    check(static_cast<bool>(t.load(s)));
    if (net) {
        t.with_device_lock([&] {
            api::VirtioNetState ns = net->save();
            check(static_cast<bool>(net->check_state(ns)));
            check(static_cast<bool>(net->load(ns)));
        });
    }
}

void drain(int fd) {
    uint8_t buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) return 0;
    static std::vector<uint8_t> host(kRamBytes);
    std::fill(host.begin(), host.end(), 0);
    GuestMemory ram(host, (data[0] & 2) ? kRamBytes / 2 : GuestMemory::kHighBase);
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd peer(sv[1]);
    Net* net = nullptr;
    std::unique_ptr<Device> device;
    if (data[0] & 1) {
        close(sv[0]);
        device = std::make_unique<EchoDevice>();
    } else {
        auto n = std::make_unique<Net>(Tap::unchecked(UniqueFd(sv[0]), "fuzz0"),
                                       std::array<uint8_t, 6>{0x52, 0x54, 0, 1, 2, 3});
        net = n.get();
        device = std::move(n);
    }
    MmioTransport t(std::move(device), ram);
    Cursor c(data + 1, size - 1);
    for (int ops = 0; c.more() && ops < 256; ops++) {
        switch (c.u8() % 8) {
        case 0: {
            uint64_t reg = uint64_t{c.u8()} * 4 % MmioTransport::kWindowBytes;
            write32(t, reg, c.u32());
            break;
        }
        case 1: {
            uint8_t out[4];
            t.read(uint64_t{c.u8()} * 4 % MmioTransport::kWindowBytes, out);
            break;
        }
        case 2: {
            uint16_t at = c.u16();
            auto b = c.bytes(c.u8());
            size_t n = std::min(b.size(), kRamBytes - std::min<size_t>(at, kRamBytes));
            std::copy_n(b.begin(), n, host.begin() + at);
            break;
        }
        case 3: {
            auto b = c.bytes(c.u16() % 2048);
            if (net) (void)send(peer.get(), b.data(), b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        }
        case 4:
            t.backend_ready();
            drain(peer.get());
            break;
        case 5: round_trip(t, net); break;
        case 6: setup(t, c); break;
        default: write32(t, 0x050, c.u8() % 3); break;
        }
    }
    return 0;
}
