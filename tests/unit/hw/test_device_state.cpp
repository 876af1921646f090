// Unit tests of device state for migration and snapshots (STYLE.md 6 and
// 9): every migratable device (the 16550, a virtio-mmio transport with
// its queues, virtio-net on its transport) runs one shared template -
// save a busy device, load into a fresh one, save again and compare,
// mutate, load again; then corrupt one field at a time and expect the
// exact refusal with the device unchanged.  Behaviour after a load is
// tested per device: queued serial bytes and a pending interrupt, a
// virtqueue chain posted before the save and served after the load, a
// received frame that waited for a buffer.  The generated visitors carry
// a whole MachineState and enforce the schema's bounds on input.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hw/serial/serial.h"
#include "hw/virtio/mmio.h"
#include "hw/virtio/net/net.h"
#include "qapi-types-machine.h"
#include "qapi-visit-machine-state.h"
#include "runtime/visit.h"
#include "state_support.h"
#include "virtio_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;
using namespace molt::hw::virtio;
using namespace molt::hw::virtio::test;

namespace {

template <class State>
struct Corruption {
    const char* name;
    std::function<void(State&)> corrupt;
    std::string message;
};

void wr8(BusDevice& d, uint64_t reg, uint8_t v) { d.write(reg, std::span<const uint8_t>(&v, 1)); }
uint8_t rd8(BusDevice& d, uint64_t reg) {
    uint8_t v = 0;
    d.read(reg, std::span(&v, 1));
    return v;
}
void wr32(BusDevice& d, uint64_t off, uint32_t v) {
    d.write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
}
uint32_t rd32(BusDevice& d, uint64_t off) {
    uint32_t v = 0;
    d.read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
}

// --- the 16550 -----------------------------------------------------------

struct SerialCase {
    using Dev = Serial16550;
    using State = api::SerialState;
    bool available() const { return true; }
    std::unique_ptr<Dev> make() { return std::make_unique<Dev>(UniqueFd()); }
    void exercise(Dev& u) {
        wr8(u, 3, 0x80);   // DLAB: divisor 3
        wr8(u, 0, 0x03);
        wr8(u, 1, 0x00);
        wr8(u, 3, 0x1b);
        wr8(u, 2, 0xc1);   // FIFOs on
        wr8(u, 4, 0x0b);
        wr8(u, 7, 0x5a);
        wr8(u, 1, 0x07);   // every interrupt: THR empty pending at once
        const uint8_t in[] = {'a', 'b', 'c'};
        u.receive(in);
    }
    void mutate(Dev& u) {
        wr8(u, 7, 0x11);
        (void)rd8(u, 0);
    }
    State save(Dev& u) { return u.save(); }
    Result<void> load(Dev& u, const State& s) { return u.load(s); }
    std::vector<Corruption<State>> corruptions() {
        return {
            {"ier", [](State& s) { s.ier = 0x10; }, "serial: ier 16 has bits above 3"},
            {"mcr", [](State& s) { s.mcr = 0x20; }, "serial: mcr 32 has bits above 4"},
            {"rx", [](State& s) { s.rx.resize(4097); }, "serial: 4097 received bytes, more than the queue's 4096"},
        };
    }
};

// --- virtio-mmio with the upper-casing test device ---------------------------

struct MmioCase {
    using Dev = MmioTransport;
    using State = api::VirtioMmioState;
    std::vector<uint8_t> host = std::vector<uint8_t>(1 << 20);
    GuestMemory ram{host};
    QueueBuilder qb{ram};

    bool available() const { return true; }
    std::unique_ptr<Dev> make() { return std::make_unique<Dev>(std::make_unique<UpperDevice>(), ram); }
    // Driver start (3.1.1), one chain served, a second posted unnotified.
    void exercise(Dev& t) {
        const uint32_t seq[] = {0, 1, 3};
        for (uint32_t v : seq) wr32(t, 0x70, v);
        wr32(t, 0x24, 1);
        wr32(t, 0x20, 1);   // VERSION_1
        wr32(t, 0x70, 11);
        wr32(t, 0x38, kSize);
        wr32(t, 0x80, kDesc);
        wr32(t, 0x90, kAvail);
        wr32(t, 0xa0, kUsed);
        wr32(t, 0x44, 1);
        wr32(t, 0x70, 15);
        REQUIRE(ram.write(kData, std::span(reinterpret_cast<const uint8_t*>("abc"), 3)));
        qb.desc(0, kData, 3, kDescNext, 1);
        qb.desc(1, kData + 0x100, 16, kDescWrite, 0);
        qb.post(0);
        wr32(t, 0x50, 0);
        REQUIRE(qb.used_idx() == qb.avail_idx);
        REQUIRE(ram.write(kData + 0x200, std::span(reinterpret_cast<const uint8_t*>("xyz"), 3)));
        qb.desc(2, kData + 0x200, 3, kDescNext, 3);
        qb.desc(3, kData + 0x300, 16, kDescWrite, 0);
        qb.post(2);
    }
    void mutate(Dev& t) {
        wr32(t, 0x30, 3);   // QueueSel
        wr32(t, 0x64, 1);   // InterruptACK
    }
    State save(Dev& t) { return t.save(); }
    Result<void> load(Dev& t, const State& s) { return t.load(s); }
    std::vector<Corruption<State>> corruptions() {
        return {
            {"status", [](State& s) { s.status = 0x10f; }, "status 0x10f has bits above 7"},
            {"features", [](State& s) { s.driver_features |= uint64_t{1} << 40; },
             "status has FEATURES_OK but driver-features 0x10100000000 are not VERSION_1 and a subset of "
             "the device's 0x100000001"},
            {"no VERSION_1", [](State& s) { s.driver_features = 1; },
             "status has FEATURES_OK but driver-features 0x1 are not VERSION_1 and a subset of the "
             "device's 0x100000001"},
            {"interrupt-status", [](State& s) { s.interrupt_status = 4; },
             "interrupt-status 0x4 has bits other than 0 and 1"},
            {"queue count", [](State& s) { s.queues.emplace_back(); }, "2 queues in the state, the device has 1"},
            {"size", [](State& s) { s.queues[0].size = 6; },
             "queue 0: virtqueue: size 6 is not a power of two up to 8"},
            {"size above max", [](State& s) { s.queues[0].size = 16; },
             "queue 0: virtqueue: size 16 is not a power of two up to 8"},
            {"desc outside RAM", [](State& s) { s.queues[0].desc = 0xfffff000; },
             "queue 0: virtqueue: ring outside guest RAM"},
            {"used straddles the end", [](State& s) { s.queues[0].used = (1 << 20) - 16; },
             "queue 0: virtqueue: ring outside guest RAM"},
            {"misaligned", [](State& s) { s.queues[0].avail = kAvail + 1; },
             "queue 0: virtqueue: misaligned ring address"},
            {"indices", [](State& s) { s.queues[0].next_avail = static_cast<uint16_t>(s.queues[0].next_used + 9); },
             "queue 0: virtqueue: next-avail 10 is more than the size ahead of next-used 1"},
        };
    }
};

// --- virtio-net on its transport ---------------------------------------------

struct NetDev {
    Net* net;
    std::unique_ptr<MmioTransport> transport;
};

struct NetCase {
    using Dev = NetDev;
    using State = api::VirtioNetDeviceState;
    static constexpr std::array<uint8_t, 6> kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    std::vector<uint8_t> host = std::vector<uint8_t>(1 << 20);
    GuestMemory ram{host};
    QueueBuilder rx{ram, 0x1000, 0x2000, 0x3000};
    QueueBuilder tx{ram, 0x4000, 0x5000, 0x6000};

    bool available() const { return can_make_taps(); }
    std::unique_ptr<Dev> make() {
        std::optional<Tap> tap = open_tap();
        REQUIRE(tap);
        auto* net = new Net(std::move(*tap), kMac);
        return std::make_unique<Dev>(Dev{net, std::make_unique<MmioTransport>(std::unique_ptr<Device>(net), ram)});
    }
    // Started; one frame sent; a receive buffer posted; a second frame
    // queued and notified, not yet served (the kick is pending).
    void exercise(Dev& d) {
        MmioTransport& t = *d.transport;
        const uint32_t seq[] = {0, 3};
        for (uint32_t v : seq) wr32(t, 0x70, v);
        wr32(t, 0x24, 0);
        wr32(t, 0x20, 1u << 5);   // MAC
        wr32(t, 0x24, 1);
        wr32(t, 0x20, 1);         // VERSION_1
        wr32(t, 0x70, 11);
        const QueueBuilder* qs[] = {&rx, &tx};
        for (uint32_t i = 0; i < 2; ++i) {
            wr32(t, 0x30, i);
            wr32(t, 0x38, kSize);
            wr32(t, 0x80, static_cast<uint32_t>(qs[i]->desc_base));
            wr32(t, 0x90, static_cast<uint32_t>(qs[i]->avail_base));
            wr32(t, 0xa0, static_cast<uint32_t>(qs[i]->used_base));
            wr32(t, 0x44, 1);
        }
        wr32(t, 0x70, 15);
        REQUIRE(rd32(t, 0x70) == 15);
        rx.desc(0, 0x10000, 2048, kDescWrite, 0);
        rx.post(0);
        tx.desc(0, 0x20000, 12 + 60, 0, 0);   // a zeroed header and frame
        tx.post(0);
        wr32(t, 0x50, 1);
        t.backend_ready();
        REQUIRE(tx.used_idx() == tx.avail_idx);
        tx.post(0);
        wr32(t, 0x50, 1);
        REQUIRE(d.net->kicked());
    }
    void mutate(Dev& d) { wr32(*d.transport, 0x30, 7); }
    // The TAP's name is each device's own (information, never loaded):
    // checked here, then left out of the comparisons.
    State save(Dev& d) {
        State s;
        s.id = "net0";
        *s.transport = d.transport->save();
        *s.net = d.transport->with_device_lock([&] { return d.net->save(); });
        CHECK(s.net->tap == d.net->tap().ifname());
        s.net->tap = "tap";
        return s;
    }
    // As Machine::load_state: check both parts, then apply both.
    Result<void> load(Dev& d, const State& s) {
        MOLT_TRY(d.transport->check_state(*s.transport));
        MOLT_TRY(d.transport->with_device_lock([&] { return d.net->check_state(*s.net); }));
        MOLT_TRY(d.transport->load(*s.transport));
        return d.transport->with_device_lock([&] { return d.net->load(*s.net); });
    }
    std::vector<Corruption<State>> corruptions() {
        return {
            {"mac", [](State& s) { s.net->mac = "52:54:00:12:34:57"; },
             "mac 52:54:00:12:34:57 differs from this device's 52:54:00:12:34:56"},
            {"mac syntax", [](State& s) { s.net->mac = "52-54-00-12-34-56"; },
             "mac '52-54-00-12-34-56' is not six hex bytes separated by ':'"},
            {"empty frame", [](State& s) { s.net->rx_frame.emplace(); }, "rx-frame of 0 bytes (1 to 65561)"},
            {"oversized frame", [](State& s) { s.net->rx_frame.emplace(65562); },
             "rx-frame of 65562 bytes (1 to 65561)"},
            {"rx ring outside RAM", [](State& s) { s.transport->queues[0].avail = 0x100000; },
             "queue 0: virtqueue: ring outside guest RAM"},
            {"queue count", [](State& s) { s.transport->queues.pop_back(); },
             "1 queues in the state, the device has 2"},
        };
    }
};

}  // namespace

TEST_CASE_TEMPLATE("device state: save, load into a fresh device, save again, mutate, load again; "
                   "each corrupt field refused with the device unchanged",
                   C, SerialCase, MmioCase, NetCase) {
    C c;
    if (!c.available()) {
        MESSAGE("skipped: needs root and /dev/net/tun");
        return;
    }
    auto busy = c.make();
    c.exercise(*busy);
    typename C::State saved = c.save(*busy);
    auto fresh = c.make();
    CHECK_FALSE(c.save(*fresh) == saved);
    REQUIRE(c.load(*fresh, saved));
    CHECK(c.save(*fresh) == saved);
    c.mutate(*fresh);
    CHECK_FALSE(c.save(*fresh) == saved);
    REQUIRE(c.load(*fresh, saved));
    CHECK(c.save(*fresh) == saved);
    c.mutate(*fresh);
    for (const Corruption<typename C::State>& k : c.corruptions()) {
        CAPTURE(k.name);
        typename C::State bad = saved;
        k.corrupt(bad);
        typename C::State before = c.save(*fresh);
        Result<void> r = c.load(*fresh, bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().message() == k.message);
        CHECK(c.save(*fresh) == before);
    }
}

TEST_CASE("16550 state: queued bytes, registers and the pending interrupt carry over") {
    SerialCase c;
    auto a = c.make();
    LevelIrq irq_a, irq_b;
    a->set_irq(&irq_a);
    c.exercise(*a);
    REQUIRE(irq_a.level);
    api::SerialState s = a->save();
    CHECK(s.rx == std::vector<uint8_t>{'a', 'b', 'c'});
    CHECK(s.thr_interrupt);   // below received data in IIR's ranking
    Serial16550 b{UniqueFd()};
    b.set_irq(&irq_b);
    REQUIRE(b.load(s));
    CHECK(irq_b.level);                 // the line re-driven by the load
    CHECK(rd8(b, 2) == (0x04 | 0xc0));  // IIR: received data, FIFOs on
    CHECK(rd8(b, 3) == 0x1b);
    CHECK(rd8(b, 7) == 0x5a);
    CHECK(rd8(b, 5) == (0x60 | 0x01));  // LSR: data ready
    std::string got;
    for (int i = 0; i < 3; ++i) got += static_cast<char>(rd8(b, 0));
    CHECK(got == "abc");
    CHECK(irq_b.level);
    CHECK(rd8(b, 2) == (0x02 | 0xc0));  // IIR: THR empty, acknowledged by this read
    CHECK_FALSE(irq_b.level);
    wr8(b, 3, 0x9b);                    // the divisor latch came along
    CHECK(rd8(b, 0) == 0x03);
    // An overrun is kept until LSR reports it.
    std::vector<uint8_t> flood(4097, 'x');
    a->receive(flood);
    s = a->save();
    CHECK(s.overrun);
    CHECK(s.rx.size() == 4096);
    REQUIRE(b.load(s));
    CHECK(irq_b.level);
    CHECK((rd8(b, 5) & 0x02) == 0x02);
    CHECK((rd8(b, 5) & 0x02) == 0);
}

TEST_CASE("virtio-mmio state: a chain posted before the save is served after the load") {
    MmioCase c;
    auto a = c.make();
    LevelIrq irq;
    c.exercise(*a);
    api::VirtioMmioState s = a->save();
    CHECK(s.status == 15);
    CHECK(s.interrupt_status == 1);
    CHECK(s.queues[0].next_avail == 1);
    CHECK(s.queues[0].next_used == 1);
    CHECK(s.queues[0].signalled_used == 1);
    // A fresh transport on the same guest RAM (as if it had migrated).
    auto* dev = new UpperDevice();
    MmioTransport b(std::unique_ptr<Device>(dev), c.ram);
    b.set_irq(&irq);
    REQUIRE(b.load(s));
    CHECK(irq.level);
    CHECK(dev->activations == 0);   // re-bound, not started again
    CHECK(dev->queues != nullptr);
    CHECK(rd32(b, 0x70) == 15);
    CHECK(rd32(b, 0x60) == 1);
    wr32(b, 0x64, 1);
    CHECK_FALSE(irq.level);
    wr32(b, 0x50, 0);               // the driver notifies: the chain posted before the save
    CHECK(c.qb.used_idx() == 2);
    CHECK(c.qb.used_len(1) == 3);
    std::string out(3, '\0');
    REQUIRE(c.ram.read(kData + 0x300, std::span(reinterpret_cast<uint8_t*>(out.data()), 3)));
    CHECK(out == "XYZ");
    CHECK(irq.level);
    CHECK(rd32(b, 0x70) == 15);
}

TEST_CASE("virtio-mmio state: a device that needs a reset loads as it is, failure text and all") {
    UpperFixture f;
    f.init(6);   // not a power of two: NEEDS_RESET at DRIVER_OK
    REQUIRE(f.needs_reset());
    api::VirtioMmioState s = f.mmio.save();
    CHECK(s.queues[0].size == 6);
    CHECK(s.failure == "queue 0: virtqueue: size 6 is not a power of two up to 8");
    auto* dev = new UpperDevice();
    MmioTransport b(std::unique_ptr<Device>(dev), f.ram);
    REQUIRE(b.load(s));
    CHECK(b.failure() == s.failure);
    CHECK((b.status() & MmioTransport::kNeedsReset) != 0);
    wr32(b, 0x50, 0);               // ignored until the driver resets it
    CHECK(b.save() == s);
    // A queue that is not ready may hold whatever the driver wrote.
    api::VirtioMmioState idle = MmioCase().make()->save();
    idle.queues[0].size = 3;
    idle.queues[0].desc = 0xffffffffffff0000ull;
    CHECK(b.load(idle));
}

TEST_CASE("virtio-mmio: Status keeps 8 bits") {
    UpperFixture f;
    f.wr(0x70, 0x101);
    CHECK(f.rd(0x70) == 1);
    f.wr(0x70, 0x100);   // a reset, as 0
    CHECK(f.rd(0x70) == 0);
}

TEST_CASE("virtio-net state: a frame that waited for a buffer arrives after the load" *
          doctest::skip(!can_make_taps())) {
    NetCase c;
    auto a = c.make();
    c.exercise(*a);
    api::VirtioNetDeviceState s = c.save(*a);
    CHECK(s.net->tx_frames == 1);
    CHECK(s.net->kicked);
    CHECK(s.net->tx_kicked);
    CHECK_FALSE(s.net->rx_frame);
    std::vector<uint8_t> frame(12 + 60);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i * 7);
    s.net->rx_frame = frame;
    // The guest had used its one receive buffer: none is posted now.
    s.transport->queues[0].next_avail = s.transport->queues[0].next_used = 1;
    REQUIRE(c.ram.write_obj<uint16_t>(0x3002, 1));
    auto b = c.make();
    REQUIRE(c.load(*b, s));
    CHECK_FALSE(b->net->wants_tap_readable());   // the frame waits; the TAP is not watched
    CHECK(b->net->kicked());
    CHECK(c.save(*b) == s);
    b->transport->backend_ready();               // the pending kick: the queued frame goes out
    CHECK(c.tx.used_idx() == 2);
    CHECK(b->net->counters().tx_frames == 2);
    CHECK(c.rx.used_idx() == 1);                 // still no buffer for the waiting frame
    c.rx.desc(1, 0x18000, 2048, kDescWrite, 0);
    c.rx.post(1);
    wr32(*b->transport, 0x50, 0);
    b->transport->backend_ready();
    REQUIRE(c.rx.used_idx() == 2);
    CHECK(c.rx.used_len(1) == frame.size());
    std::vector<uint8_t> got(frame.size());
    REQUIRE(c.ram.read(0x18000, got));
    CHECK(got == frame);
    CHECK(b->net->wants_tap_readable());
    CHECK(b->net->counters().rx_frames == 1);
}

TEST_CASE("device state: the generated JSON visitors carry a MachineState; the schema bounds input") {
    SerialCase sc;
    auto uart = sc.make();
    sc.exercise(*uart);
    MmioCase mc;
    auto transport = mc.make();
    mc.exercise(*transport);
    api::MachineState m;
    m.cpu = api::X86CpuState{};
    (*m.cpu)->rip = 0x100000;
    *m.serial = uart->save();
    m.serial->rx.assign(4096, 0xff);
    api::VirtioNetDeviceState d;
    d.id = "net0";
    *d.transport = transport->save();
    d.net->mac = "52:54:00:12:34:56";
    d.net->rx_frame = std::vector<uint8_t>(Net::kMaxFrame, 0xab);
    d.net->kicked = true;
    d.net->tx_frames = uint64_t{1} << 63;
    m.nets.push_back(d);
    REQUIRE(validate(m));
    std::string text = to_json(m);
    Result<Json> doc = Json::parse(text);
    REQUIRE(doc);
    Result<api::MachineState> back = from_json<api::MachineState>(doc->value());
    REQUIRE_MESSAGE(back, back.error().message());
    CHECK(*back == m);
    struct Case {
        std::string from, to, message;
    };
    const Case cases[] = {
        {"\"ier\": 7", "\"ier\": 16", "Parameter 'serial.ier' expects a value between 0 and 15"},
        {"\"rx\": [255, ", "\"rx\": [255, 255, ", "Parameter 'serial.rx' expects a list of 0 to 4096 elements"},
        {"\"interrupt-status\": 1", "\"interrupt-status\": 4",
         "Parameter 'nets[0].transport.interrupt-status' expects a value between 0 and 3"},
        {"\"rx-frame\": [171, ", "\"rx-frame\": [171, 171, ",
         "Parameter 'nets[0].net.rx-frame' expects a list of 1 to 65561 elements"},
        {"\"size\": 8", "\"size\": 65536", "Parameter 'nets[0].transport.queues[0].size' expects uint16_t"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.to);
        std::string t = text;
        size_t at = t.find(c.from);
        REQUIRE(at != std::string::npos);
        t.replace(at, c.from.size(), c.to);
        Result<api::MachineState> r = from_json<api::MachineState>(Json::parse(t)->value());
        REQUIRE_FALSE(r);
        CHECK(r.error().message() == c.message);
    }
}
