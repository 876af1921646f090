// Loading a guest image into guest RAM (hw/boot): ELF64 x86-64
// executables, the form of molt's test guests (tests/guests).
//
// Every header field is checked against the file and against RAM before
// anything is copied; PT_LOAD segments are copied to their physical
// addresses (p_paddr) and their BSS zeroed.  (Linux bzImages:
// linux_loader.h.)
#pragma once

#include <cstdint>
#include <string>

#include "hw/memory/guest_memory.h"

namespace molt::hw {

struct LoadedImage {
    uint64_t entry;       // guest-physical entry point
    uint64_t low, high;   // the guest-physical range the segments occupy
};

Result<LoadedImage> load_elf(const std::string& path, const GuestMemory& ram);

}  // namespace molt::hw
