// tap_section(), receive_tap(); see tap_transfer.h.
#include "migration/engine/tap_transfer.h"

#include "migration/engine/device_sections.h"
#include "qapi-validate-machine-state.h"
#include "qapi-visit-machine-state.h"
#include "runtime/visit.h"

namespace molt::migration {

DeviceSection tap_section(const std::string& device_id, const std::string& ifname, UniqueFd fd) {
    api::TapTransferState st{};
    st.fds = 1;
    st.ifname = ifname;
    DeviceSection d{{std::string(kTapSectionPrefix) + device_id, 0, kDeviceSectionVersion, kDeviceSectionVersion},
                    to_json(st), {}};
    d.fds.push_back(std::move(fd));
    return d;
}

bool is_tap_section(const stream::SectionRecord& s) {
    return s.info.id.compare(0, kTapSectionPrefix.size(), kTapSectionPrefix) == 0;
}

Result<ReceivedTap> receive_tap(const stream::SectionRecord& s, stream::StreamReader& reader) {
    std::string_view text(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
    Result<api::TapTransferState> st = from_str<api::TapTransferState>(text);
    // fds in 1..16 (a TAP's queues) before it decides how many to take.
    Result<void> valid = st ? validate(*st) : ok();
    if (!st || !valid) return Error(st ? valid.error() : st.error()).with_context("section '" + s.info.id + "'");
    ReceivedTap tap;
    tap.device_id = s.info.id.substr(kTapSectionPrefix.size());
    tap.ifname = st->ifname;
    Result<std::vector<UniqueFd>> fds = reader.take_fds(static_cast<size_t>(st->fds));
    if (!fds) return Error(fds.error()).with_context("section '" + s.info.id + "'");
    tap.fds = std::move(*fds);
    return tap;
}

}  // namespace molt::migration
