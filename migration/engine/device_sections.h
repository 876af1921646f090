// The machine's device state as stream sections (migration/engine): one
// section per device, its payload the JSON of the device's schema struct
// (schema/machine-state.json) written and read by the generated visitors,
// so the schema's compatibility rules are the stream's.
//
//   "vm/status"          StatusInfo: the source's run state when it
//                        stopped (a guest paused there stays paused)
//   "cpu/0"              X86CpuState
//   "serial/com1"        SerialState
//   "virtio-net/<id>"    VirtioNetDeviceState
// Loading refuses an unknown section, a section twice, a version newer
// than this molt reads, or a payload the visitors refuse; nothing is
// applied here (the machine's load_state() validates and applies).
#pragma once

#include <vector>

#include "migration/engine/outgoing.h"
#include "migration/stream/records.h"
#include "qapi-types-machine-state.h"
#include "qapi-types-run-state.h"
#include "runtime/result.h"

namespace molt::migration {

inline constexpr uint32_t kDeviceSectionVersion = 1;

struct SavedVm {
    api::StatusInfo status;
    api::MachineState machine;
};

std::vector<DeviceSection> encode_vm(const SavedVm& vm);
Result<SavedVm> decode_vm(const std::vector<stream::SectionRecord>& sections);

}  // namespace molt::migration
