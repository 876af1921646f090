// backend-transfer of TAPs in the main migration stream (migration/engine):
// a local migration in mode normal over a UNIX socket hands each
// virtio-net device's TAP fd to the destination in a section
// "tap/DEVICE-ID" (schema TapTransferState), the fd attached as
// SCM_RIGHTS.  The destination, told by its early parameters, created the
// device with its TAP pending (hw Tap::pending) and adopts the fd before
// the device state is loaded: the same interface, with the frames queued
// in it during the pause.  (cpr-transfer and cpr-exec carry TAPs in the
// CPR state instead.)
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "migration/engine/outgoing.h"
#include "migration/stream/reader.h"
#include "migration/stream/records.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

inline constexpr std::string_view kTapSectionPrefix = "tap/";

// The section for device `device_id`'s TAP (fd: a dup, sent and closed).
DeviceSection tap_section(const std::string& device_id, const std::string& ifname, UniqueFd fd);
bool is_tap_section(const stream::SectionRecord& s);

struct ReceivedTap {
    std::string device_id;
    std::string ifname;
    std::vector<UniqueFd> fds;
};
// The destination: the section's fds, taken from the reader.
Result<ReceivedTap> receive_tap(const stream::SectionRecord& s, stream::StreamReader& reader);

}  // namespace molt::migration
