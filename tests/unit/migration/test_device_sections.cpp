// Unit tests of the device state as stream sections (migration/engine/
// device_sections): a saved VM's sections decode to the same state, and a
// destination refuses what it cannot load - an unknown section, a section
// twice, a version newer than it reads, a payload the visitors refuse, a
// missing section - each with a specific message.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "migration/engine/device_sections.h"

using namespace molt;
using namespace molt::migration;

namespace {

SavedVm sample() {
    SavedVm vm{};
    vm.status.running = true;
    vm.status.status = api::RunState::Running;
    vm.machine.cpu.emplace();
    (**vm.machine.cpu).rip = 0x100123;
    vm.machine.serial->lcr = 3;
    vm.machine.serial->rx = {0x61, 0x62};
    return vm;
}

std::vector<stream::SectionRecord> records(const std::vector<DeviceSection>& sections) {
    std::vector<stream::SectionRecord> out;
    for (const DeviceSection& d : sections) {
        out.push_back({d.info, std::vector<uint8_t>(d.payload.begin(), d.payload.end())});
    }
    return out;
}

std::string refusal(const std::vector<stream::SectionRecord>& r) {
    Result<SavedVm> vm = decode_vm(r);
    REQUIRE_FALSE(vm);
    return vm.error().message();
}

}  // namespace

TEST_CASE("device sections: a saved VM decodes to the same state") {
    std::vector<DeviceSection> sections = encode_vm(sample());
    REQUIRE(sections.size() == 3);
    CHECK(sections[0].info.id == "vm/status");
    CHECK(sections[1].info.id == "cpu/0");
    CHECK(sections[2].info.id == "serial/com1");
    Result<SavedVm> vm = decode_vm(records(sections));
    REQUIRE(vm);
    CHECK(vm->status.running);
    REQUIRE(vm->machine.cpu);
    CHECK((**vm->machine.cpu).rip == 0x100123);
    CHECK(vm->machine.serial->lcr == 3);
    CHECK(vm->machine.serial->rx == std::vector<uint8_t>{0x61, 0x62});
}

TEST_CASE("device sections: kvm's state travels in kvm/0") {
    SavedVm saved = sample();
    saved.machine.kvm.emplace();
    api::KvmState& k = **saved.machine.kvm;
    k.vcpu->lapic = "AAAA";
    k.vcpu->mp_state = 3;
    api::KvmRegister tsc;
    tsc.index = 0x10;
    tsc.value = 123456789;
    k.vcpu->msrs.push_back(tsc);
    k.vm->clock = 42;
    std::vector<DeviceSection> sections = encode_vm(saved);
    REQUIRE(sections.size() == 4);
    CHECK(sections[2].info.id == "kvm/0");
    Result<SavedVm> vm = decode_vm(records(sections));
    REQUIRE(vm);
    REQUIRE(vm->machine.kvm);
    const api::KvmState& back = **vm->machine.kvm;
    CHECK(back.vcpu->lapic == "AAAA");
    CHECK(back.vcpu->mp_state == 3);
    REQUIRE(back.vcpu->msrs.size() == 1);
    CHECK(back.vcpu->msrs[0].index == 0x10);
    CHECK(back.vcpu->msrs[0].value == 123456789);
    CHECK(back.vm->clock == 42);
}

TEST_CASE("device sections: what a destination refuses") {
    std::vector<stream::SectionRecord> good = records(encode_vm(sample()));

    auto unknown = good;
    unknown.push_back({{"virtio-blk/d0", 0, 1, 1}, {'{', '}'}});
    CHECK(refusal(unknown) == "unknown section 'virtio-blk/d0'");

    auto twice = good;
    twice.push_back(good[2]);
    CHECK(refusal(twice) == "section 'serial/com1' appears twice");

    auto newer = good;
    newer[1].info.version = 3;
    newer[1].info.min_version = 2;
    CHECK(refusal(newer) == "section 'cpu/0': version 3 needs a newer molt (this one reads version 1)");

    auto garbage = good;
    garbage[2].payload = {'[', '1', ']'};
    CHECK(refusal(garbage) == "section 'serial/com1': not a JSON object");

    auto out_of_range = good;
    std::string bad = R"({"ier": 300})";
    out_of_range[2].payload.assign(bad.begin(), bad.end());
    CHECK(refusal(out_of_range).rfind("section 'serial/com1': ", 0) == 0);

    auto no_serial = good;
    no_serial.pop_back();
    CHECK(refusal(no_serial) == "the stream has no section 'serial/com1'");

    auto no_status = good;
    no_status.erase(no_status.begin());
    CHECK(refusal(no_status) == "the stream has no section 'vm/status'");
}
