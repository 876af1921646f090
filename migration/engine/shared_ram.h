// x-ignore-shared (migration/engine): when guest RAM is shared memory (a
// memfd or a file mapped with share=on) that the destination maps too -
// a live update on one host - the source sends no RAM at all.  The main
// stream says so with the section "migration/ram-shared": the identity of
// the memory (device and inode of the fd behind it, and its size).  The
// destination checks that its own guest RAM is that same memory; anything
// else is refused, since its guest would run on RAM that never arrived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migration/stream/records.h"
#include "runtime/result.h"

namespace molt::migration {

inline constexpr std::string_view kSharedRamSection = "migration/ram-shared";

struct SharedRamId {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    bool operator==(const SharedRamId&) const = default;
};

// The identity of shared memory behind fd, of size bytes.
Result<SharedRamId> shared_ram_id(int fd, uint64_t size);

stream::SectionInfo shared_ram_section_info();
std::vector<uint8_t> encode_shared_ram(const SharedRamId& id);
Result<SharedRamId> decode_shared_ram(const std::vector<uint8_t>& payload);

// The destination's check: `own` is its guest RAM's identity (nullopt:
// not shared memory).
Result<void> check_shared_ram(const SharedRamId& source, const std::optional<SharedRamId>& own);

}  // namespace molt::migration
