// Loading a Linux bzImage for its 64-bit entry (hw/boot), per the kernel's
// Documentation/arch/x86/boot.rst (boot protocol 2.12 or later).
//
// Guest-physical layout below 1 MiB, all in RAM the e820 map reports:
//   0x7000   boot_params ("zero page"): the image's setup header, e820
//            map, command line and initrd pointers, the ACPI RSDP address
//   0x20000  the command line (NUL-terminated, at most the kernel's
//            cmdline_size)
//   0xe0000  reserved for firmware tables (ACPI), 128 KiB
// The protected-mode kernel goes to 1 MiB and is entered at +0x200 in
// long mode with RSI = boot_params; the initrd goes as high as low RAM
// (below the MMIO hole) and the kernel's initrd_addr_max allow.  The e820
// map lists low RAM and, above 4 GiB, high RAM.  Every header field is checked and
// everything must fit before anything is written.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "hw/memory/guest_memory.h"

namespace molt::hw {

inline constexpr uint64_t kBootParamsAddress = 0x7000;
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kFirmwareAddress = 0xe0000;
inline constexpr uint64_t kFirmwareBytes = 0x20000;
inline constexpr uint64_t kKernelAddress = 0x100000;

struct LinuxImage {
    std::span<const uint8_t> kernel;           // the bzImage file
    std::span<const uint8_t> initrd;           // empty: none
    std::string cmdline;
    uint64_t rsdp_address = 0;                 // 0: no ACPI
};

struct LoadedLinux {
    uint64_t entry;         // 64-bit entry point
    uint64_t boot_params;   // for RSI
    uint64_t high;          // end of the kernel's reserved range (init_size)
};

Result<LoadedLinux> load_linux(const LinuxImage& image, const GuestMemory& ram);

}  // namespace molt::hw
