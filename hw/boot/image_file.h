// Reading a guest image file (hw/boot): the whole file into memory, with
// the checks every loader needs (a regular file, not absurdly large), and
// telling the formats apart (ELF test guests, Linux bzImages).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/result.h"

namespace molt::hw {

// A kernel, initrd or test guest is read whole into memory: 1 GiB bounds
// that allocation (a Debian bzImage is ~8 MiB, an initramfs some tens; a
// larger file could not fit below the 4 GiB the boot protocol loads to).
inline constexpr size_t kMaxImageBytes = size_t{1} << 30;

Result<std::vector<uint8_t>> read_image_file(const std::string& path);

// The x86 boot protocol's "HdrS" signature at 0x202.
bool is_bzimage(std::span<const uint8_t> file);

}  // namespace molt::hw
