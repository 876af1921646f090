// The records of a migration stream as values: what the reader returns
// from next() and what the writer's section call takes (format.h has the
// bytes).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "migration/stream/format.h"

namespace molt::migration::stream {

// The stream header's decoded fields (the magic is implied).
struct StreamHeader {
    uint32_t format_version = kFormatVersion;
    uint32_t flags = 0;
    std::string arch;
};

// A section's identity and versions: id "virtio-net/net0", instance (for
// repeated devices under one id), the writer's version of the section and
// the oldest loader version that can read it (see section_version.h).
struct SectionInfo {
    std::string id;
    uint32_t instance = 0;
    uint32_t version = 1;
    uint32_t min_version = 1;

    bool operator==(const SectionInfo&) const = default;
};

struct SectionRecord {
    SectionInfo info;
    std::vector<uint8_t> payload;   // opaque here; the engine's JSON
};

// A run of guest pages.  Unless zero, page_count * kPageBytes bytes of data
// follow, which the caller must take with StreamReader::read_ram_into()
// or skip_ram() before the next record.
struct RamRecord {
    uint64_t first_page = 0;
    uint32_t page_count = 0;
    bool zero = false;

    uint64_t data_bytes() const { return zero ? 0 : uint64_t{page_count} * kPageBytes; }
    bool operator==(const RamRecord&) const = default;
};

// The end of one pass over RAM (precopy iteration); pass counts from 1.
struct IterationEnd {
    uint32_t pass = 0;
};

// The end marker, after the reader has checked its counts and checksum.
struct EndOfStream {
    uint64_t record_count = 0;   // records before the marker
    uint64_t byte_count = 0;     // stream bytes before the marker
};

using Record = std::variant<SectionRecord, RamRecord, IterationEnd, EndOfStream>;

}  // namespace molt::migration::stream
