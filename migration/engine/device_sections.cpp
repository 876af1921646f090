// encode_machine_state(), decode_machine_state(); see device_sections.h.
#include "migration/engine/device_sections.h"

#include <set>
#include <string_view>

#include "qapi-visit-machine-state.h"
#include "qapi-visit-machine.h"
#include "qapi-visit-run-state.h"
#include "runtime/visit.h"

namespace molt::migration {

namespace {

constexpr std::string_view kNetPrefix = "virtio-net/";

template <class T>
DeviceSection section(std::string id, const T& value) {
    return {{std::move(id), 0, kDeviceSectionVersion, kDeviceSectionVersion}, to_json(value)};
}

template <class T>
Result<T> payload(const stream::SectionRecord& s) {
    std::string_view text(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
    if (text.empty() || text.front() != '{') return Error("not a JSON object");
    return from_str<T>(text);
}

}  // namespace

std::vector<DeviceSection> encode_vm(const SavedVm& vm) {
    const api::MachineState& state = vm.machine;
    std::vector<DeviceSection> out;
    out.push_back(section("vm/status", vm.status));
    if (state.cpu) out.push_back(section("cpu/0", **state.cpu));
    if (state.kvm) out.push_back(section("kvm/0", **state.kvm));
    out.push_back(section("serial/com1", *state.serial));
    for (const api::VirtioNetDeviceState& n : state.nets) {
        out.push_back(section(std::string(kNetPrefix) + n.id, n));
    }
    return out;
}

Result<SavedVm> decode_vm(const std::vector<stream::SectionRecord>& sections) {
    SavedVm vm{};
    api::MachineState& state = vm.machine;
    std::set<std::string> seen;
    bool serial = false, status = false;
    for (const stream::SectionRecord& s : sections) {
        const std::string& id = s.info.id;
        auto context = [&](const Error& e) { return Error(e).with_context("section '" + id + "'"); };
        if (!seen.insert(id).second) return Error("section '" + id + "' appears twice");
        if (s.info.min_version > kDeviceSectionVersion) {
            return Error("section '" + id + "': version " + std::to_string(s.info.version) +
                         " needs a newer molt (this one reads version " +
                         std::to_string(kDeviceSectionVersion) + ")");
        }
        if (id == "vm/status") {
            Result<api::StatusInfo> st = payload<api::StatusInfo>(s);
            if (!st) return context(st.error());
            vm.status = *st;
            status = true;
        } else if (id == "cpu/0") {
            Result<api::X86CpuState> cpu = payload<api::X86CpuState>(s);
            if (!cpu) return context(cpu.error());
            state.cpu.emplace();
            **state.cpu = std::move(*cpu);
        } else if (id == "kvm/0") {
            Result<api::KvmState> kvm = payload<api::KvmState>(s);
            if (!kvm) return context(kvm.error());
            state.kvm.emplace();
            **state.kvm = std::move(*kvm);
        } else if (id == "serial/com1") {
            Result<api::SerialState> st = payload<api::SerialState>(s);
            if (!st) return context(st.error());
            *state.serial = std::move(*st);
            serial = true;
        } else if (id.compare(0, kNetPrefix.size(), kNetPrefix) == 0) {
            Result<api::VirtioNetDeviceState> n = payload<api::VirtioNetDeviceState>(s);
            if (!n) return context(n.error());
            if (std::string(kNetPrefix) + n->id != id) return Error("section '" + id + "': id mismatch");
            state.nets.push_back(std::move(*n));
        } else {
            return Error("unknown section '" + id + "'");
        }
    }
    if (!serial) return Error("the stream has no section 'serial/com1'");
    if (!status) return Error("the stream has no section 'vm/status'");
    return vm;
}

}  // namespace molt::migration
