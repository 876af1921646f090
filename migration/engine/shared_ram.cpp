// x-ignore-shared's identity of shared RAM; see shared_ram.h.
#include "migration/engine/shared_ram.h"

#include <sys/stat.h>

namespace molt::migration {

namespace {

constexpr size_t kPayloadBytes = 24;   // le64 device, inode, size

std::string describe(const SharedRamId& id) {
    return "device " + std::to_string(id.device) + " inode " + std::to_string(id.inode) + ", " +
           std::to_string(id.size) + " bytes";
}

}  // namespace

Result<SharedRamId> shared_ram_id(int fd, uint64_t size) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return Error::from_errno(errno, "x-ignore-shared: fstat of guest RAM");
    return SharedRamId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), size};
}

stream::SectionInfo shared_ram_section_info() { return {std::string(kSharedRamSection), 0, 1, 1}; }

std::vector<uint8_t> encode_shared_ram(const SharedRamId& id) {
    std::vector<uint8_t> out(kPayloadBytes);
    uint64_t fields[] = {id.device, id.inode, id.size};
    for (size_t f = 0; f < 3; ++f) {
        for (size_t i = 0; i < 8; ++i) out[f * 8 + i] = static_cast<uint8_t>(fields[f] >> (8 * i));
    }
    return out;
}

Result<SharedRamId> decode_shared_ram(const std::vector<uint8_t>& payload) {
    if (payload.size() != kPayloadBytes) {
        return Error("x-ignore-shared: a section of " + std::to_string(payload.size()) + " bytes, expected " +
                     std::to_string(kPayloadBytes));
    }
    uint64_t fields[3] = {};
    for (size_t f = 0; f < 3; ++f) {
        for (size_t i = 0; i < 8; ++i) fields[f] |= uint64_t{payload[f * 8 + i]} << (8 * i);
    }
    return SharedRamId{fields[0], fields[1], fields[2]};
}

Result<void> check_shared_ram(const SharedRamId& source, const std::optional<SharedRamId>& own) {
    if (!own) {
        return Error("x-ignore-shared: the source sent no RAM (its guest RAM is shared memory, " +
                     describe(source) + "), but this destination's guest RAM is not shared memory");
    }
    if (!(*own == source)) {
        return Error("x-ignore-shared: the source's guest RAM (" + describe(source) +
                     ") is not this destination's (" + describe(*own) + ")");
    }
    return ok();
}

}  // namespace molt::migration
