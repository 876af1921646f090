// Unit tests of the machine's state (Machine::save_state/load_state), on
// real Unicorn and, where /dev/kvm opens, real KVM: a guest that prints
// the alphabet over and over on the UART (its position kept in RAM) runs,
// is paused and saved; a second machine gets a copy of its RAM and the
// state and, resumed, prints on from the next letter - with or without a
// -kernel of its own.  Refusals: a running machine, a state with bad
// fields, another set of virtio-net devices, a vCPU state KVM refuses;
// each leaves the machine as it was.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "hw/machine.h"
#include "hw_support.h"
#include "state_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

namespace {

// A state without its kvm part: that part holds clocks that run on (the
// TSC, kvmclock, the PIT's and the APIC timer's counts), so two saves of
// one machine differ in it; the rest must be equal.
api::MachineState without_kvm(api::MachineState s) {
    s.kvm.reset();
    return s;
}

// mov dx, 0x3ff; mov al, 0x5a; out dx, al          (SCR = 0x5a)
// loop: movzx eax, byte [0x200000]; add al, 'a'; mov dx, 0x3f8; out dx, al
//       sub al, 'a' - 1; cmp al, 26; jb store; xor eax, eax
// store: mov [0x200000], al; mov ecx, 4000; delay: dec ecx; jnz delay; jmp loop
const std::vector<uint8_t> kAlphabet = {
    0x66, 0xba, 0xff, 0x03, 0xb0, 0x5a, 0xee, 0x0f, 0xb6, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x04,
    0x61, 0x66, 0xba, 0xf8, 0x03, 0xee, 0x2c, 0x60, 0x3c, 0x1a, 0x72, 0x02, 0x31, 0xc0, 0x88, 0x04,
    0x25, 0x00, 0x00, 0x20, 0x00, 0xb9, 0xa0, 0x0f, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xeb, 0xd7};

constexpr size_t kRamBytes = 4 << 20;

struct Pipe {
    UniqueFd rd, wr;
    Pipe() {
        int p[2];
        REQUIRE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
        rd = UniqueFd(p[0]);
        wr = UniqueFd(p[1]);
    }
    std::string drain() {
        std::string s;
        char buf[4096];
        ssize_t n;
        while ((n = read(rd.get(), buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
        return s;
    }
    // At least n bytes, within 10 s.
    std::string wait_for(size_t n) {
        std::string s;
        for (int i = 0; i < 5000 && s.size() < n; ++i) {
            s += drain();
            if (s.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return s;
    }
};

char next_letter(char c) { return c == 'z' ? 'a' : static_cast<char>(c + 1); }

bool consecutive(const std::string& s) {
    for (size_t i = 1; i < s.size(); ++i) {
        if (s[i] != next_letter(s[i - 1])) return false;
    }
    return true;
}

struct Guest {
    std::string path = temp_file(make_elf(0x100000, kAlphabet));
    ~Guest() { unlink(path.c_str()); }
};

std::unique_ptr<Machine> machine(MachineSetup::Accel accel, const std::string* kernel, Ram& ram,
                                 UniqueFd out = UniqueFd(), std::vector<NetSetup> nets = {}) {
    MachineSetup setup;
    setup.accel = accel;
    if (kernel) setup.kernel = *kernel;
    setup.serial_out = std::move(out);
    setup.nets = std::move(nets);
    auto m = Machine::create(std::move(setup), ram.span(), [] {});
    REQUIRE_MESSAGE(m, m.error().message());
    return std::move(*m);
}

void check_continues(MachineSetup::Accel accel, bool destination_has_kernel) {
    Guest guest;
    Ram ram1{kRamBytes}, ram2{kRamBytes};
    Pipe out1, out2;
    auto m1 = machine(accel, &guest.path, ram1, std::move(out1.wr));
    m1->resume();
    std::string first = out1.wait_for(30);
    const uint8_t typed[] = {'h', 'i'};
    m1->serial_input(typed);   // the guest never reads: it stays queued
    Result<api::MachineState> running = m1->save_state();
    REQUIRE_FALSE(running);
    CHECK(running.error().message() == "the machine is running: pause it before saving its state");
    m1->pause();
    first += out1.drain();
    REQUIRE(first.size() >= 30);
    CHECK(first.rfind("abcdefghijklmnopqrstuvwxyzabc", 0) == 0);
    CHECK(consecutive(first));
    api::MachineState state = *m1->save_state();
    REQUIRE(state.cpu);
    CHECK(state.serial->scr == 0x5a);
    CHECK(state.serial->rx == std::vector<uint8_t>{'h', 'i'});
    CHECK(state.nets.empty());

    auto m2 = machine(accel, destination_has_kernel ? &guest.path : nullptr, ram2, std::move(out2.wr));
    CHECK(m2->has_guest() == destination_has_kernel);
    std::memcpy(ram2.p, ram1.p, kRamBytes);   // guest RAM arrives first
    REQUIRE(m2->load_state(state));
    CHECK(m2->has_guest());
    CHECK(without_kvm(*m2->save_state()) == without_kvm(state));
    CHECK(m2->save_state()->kvm.has_value() == (accel == MachineSetup::Accel::Kvm));
    m2->resume();
    std::string second = out2.wait_for(30);
    m2->pause();
    REQUIRE(second.size() >= 30);
    CHECK(second[0] == next_letter(first.back()));
    CHECK(consecutive(second));
    CHECK(out1.drain().empty());   // the source stays paused
    CHECK(m2->save_state()->serial->rx == std::vector<uint8_t>{'h', 'i'});
    if (!destination_has_kernel) {
        REQUIRE(m2->reset());   // no guest code at power-on again
        CHECK_FALSE(m2->has_guest());
    }
}

}  // namespace

TEST_CASE("machine state on tcg: a guest continues on a second machine") {
    check_continues(MachineSetup::Accel::Tcg, true);
}

TEST_CASE("machine state on tcg: a machine without -kernel gets its vCPU from the state") {
    check_continues(MachineSetup::Accel::Tcg, false);
}

TEST_CASE("machine state on kvm: a guest continues on a second machine" * doctest::skip(!kvm_usable())) {
    check_continues(MachineSetup::Accel::Kvm, true);
    check_continues(MachineSetup::Accel::Kvm, false);
}

TEST_CASE("machine state: bad states are refused and change nothing") {
    Guest guest;
    Ram ram{kRamBytes}, ram_empty{kRamBytes};
    auto m = machine(MachineSetup::Accel::Tcg, &guest.path, ram);
    api::MachineState before = *m->save_state();
    api::MachineState bad = before;
    bad.serial->scr = 0x77;
    bad.serial->ier = 0x40;
    Result<void> r = m->load_state(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "serial: ier 64 has bits above 3");
    CHECK(without_kvm(*m->save_state()) == without_kvm(before));
    // A state saved without a guest does not fit a machine running one.
    auto empty = machine(MachineSetup::Accel::Tcg, nullptr, ram_empty);
    api::MachineState no_cpu = *empty->save_state();
    CHECK_FALSE(no_cpu.cpu);
    r = m->load_state(no_cpu);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "the state has no vCPU (it was saved without a guest), this machine runs one");
    CHECK(without_kvm(*m->save_state()) == without_kvm(before));
    m->resume();
    r = m->load_state(before);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "the machine is running: pause it before loading a state");
    m->pause();
}

TEST_CASE("machine state on kvm: a vCPU state KVM refuses is undone, devices untouched" *
          doctest::skip(!kvm_usable())) {
    Guest guest;
    Ram ram{kRamBytes};
    auto m = machine(MachineSetup::Accel::Kvm, &guest.path, ram);
    api::MachineState before = *m->save_state();
    api::MachineState bad = before;
    bad.serial->scr = 0x77;
    (*bad.cpu)->cr0 = 0x80000000;   // paging without protection: invalid (KVM_SET_SREGS)
    (*bad.cpu)->rip = 0x123456;
    Result<void> r = m->load_state(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().rfind("vCPU 0: ", 0) == 0);
    CHECK(without_kvm(*m->save_state()) == without_kvm(before));
}

TEST_CASE("machine state: virtio-net devices are matched by id" * doctest::skip(!can_make_taps())) {
    Ram ram1{kRamBytes}, ram2{kRamBytes}, ram3{kRamBytes};
    auto nets = [](std::vector<std::string> ids) {
        std::vector<NetSetup> v;
        for (size_t i = 0; i < ids.size(); ++i) {
            std::array<uint8_t, 6> mac = {0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(0x56 + i)};
            v.push_back({ids[i], std::move(*open_tap()), mac});
        }
        return v;
    };
    auto a = machine(MachineSetup::Accel::Tcg, nullptr, ram1, UniqueFd(), nets({"n0", "n1"}));
    CHECK_FALSE(a->net_wants_input(0));   // paused: the TAPs are not watched
    a->resume();
    CHECK(a->net_wants_input(0));
    a->pause();
    api::MachineState s = *a->save_state();
    REQUIRE(s.nets.size() == 2);
    CHECK(s.nets[1].id == "n1");
    CHECK(s.nets[1].net->mac == "52:54:00:12:34:57");
    auto b = machine(MachineSetup::Accel::Tcg, nullptr, ram2, UniqueFd(), nets({"n0", "n1"}));
    api::MachineState before = *b->save_state();
    api::MachineState swapped = s;
    std::swap(swapped.nets[0], swapped.nets[1]);   // order does not matter, ids do
    CHECK(b->load_state(swapped));
    REQUIRE(b->load_state(before));
    struct Case {
        const char* name;
        void (*corrupt)(api::MachineState&);
        const char* message;
    };
    const Case cases[] = {
        {"renamed", [](api::MachineState& m) { m.nets[1].id = "n9"; },
         "virtio-net 'n9': in the state, but this machine has no such device"},
        {"missing", [](api::MachineState& m) { m.nets.pop_back(); }, "virtio-net 'n1': not in the state"},
        {"twice", [](api::MachineState& m) { m.nets[1].id = "n0"; }, "virtio-net 'n0': twice in the state"},
        {"mac", [](api::MachineState& m) { m.nets[1].net->mac = "52:54:00:12:34:56"; },
         "virtio-net 'n1': mac 52:54:00:12:34:56 differs from this device's 52:54:00:12:34:57"},
        {"queue", [](api::MachineState& m) {
             api::VirtioMmioState& t = *m.nets[1].transport;
             t.status = 15;
             t.driver_features = uint64_t{1} << 32;
             t.queues[1] = {};
             t.queues[1].size = 8;
             t.queues[1].ready = true;
             t.queues[1].desc = kRamBytes;
         }, "virtio-net 'n1': queue 1: virtqueue: ring outside guest RAM"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        api::MachineState bad = s;
        c.corrupt(bad);
        Result<void> r = b->load_state(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().message() == c.message);
        CHECK(without_kvm(*b->save_state()) == without_kvm(before));
    }
    // A machine with other devices refuses the state as a whole.
    auto c = machine(MachineSetup::Accel::Tcg, nullptr, ram3, UniqueFd(), nets({"n0"}));
    Result<void> r = c->load_state(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "virtio-net 'n1': in the state, but this machine has no such device");
}
