// The section version rule the engine applies when it loads a section.
//
// A section carries the writer's `version` and `min_version`, the oldest
// loader version that can read it: new data arrives in optional
// subsections, and only an incompatible change raises min_version
// (STYLE.md 6).  A loader knows its own `current` version and the
// `oldest` version it still reads.  Pure function, any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "migration/stream/records.h"
#include "runtime/result.h"

namespace molt::migration::stream {

struct SupportedVersions {
    uint32_t current = 1;   // the version this molt writes
    uint32_t oldest = 1;    // the oldest version it still loads
};

// Accepts when min_version <= loader.current and version >= loader.oldest.
// Errors (QEMU-like):
//   "section 'serial/com1': version 3 is newer than this molt supports (2)"
//   "section 'serial/com1': version 4 needs at least version 3, this molt supports 2"
//   "section 'serial/com1': version 1 is older than this molt supports (2 and later)"
//   "section 'serial/com1': min_version 3 is above its version 2"
Result<void> check_section_version(const SectionInfo& section, SupportedVersions loader);

}  // namespace molt::migration::stream
