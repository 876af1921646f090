// The molt migration stream format: constants, record layouts and the
// little-endian field codecs (docs/migration-stream.md is the byte-exact
// description).
//
// This is the bottom of migration/stream, a library with no VMM
// dependency: the writer (writer.h) produces these bytes on a fd, the
// reader (reader.h) checks and decodes them.  Section payloads are opaque
// here; the engine fills them with the JSON of the schema's XxxState
// structs.  Every multi-byte integer is little-endian; every record header
// ends with its own CRC32C, and a record with a body (section id and
// payload, RAM data) ends with a CRC32C of that body.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace molt::migration::stream {

// Stream header: magic, format version, flags, arch (NUL-padded), CRC.
inline constexpr std::array<uint8_t, 8> kMagic{'M', 'O', 'L', 'T', 'M', 'I', 'G', '\n'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kArchFieldBytes = 12;
inline constexpr size_t kStreamHeaderBytes = 32;
// The arch this molt writes and accepts.
inline constexpr std::string_view kHostArch = "x86_64";

// Guest pages: fixed at 4 KiB in format version 1.
inline constexpr size_t kPageBytes = 4096;

// Limits the reader enforces before it allocates or reads a body.
inline constexpr uint32_t kMaxSectionIdBytes = 255;
inline constexpr uint32_t kMaxSectionPayloadBytes = 16u << 20;   // 16 MiB
inline constexpr uint32_t kMaxDataRunPages = 256;                // 1 MiB of data
inline constexpr uint32_t kMaxZeroRunPages = 1u << 20;           // 4 GiB, no data

// The first u32 of every record.
enum class RecordKind : uint32_t {
    Section = 1,
    Ram = 2,
    IterationEnd = 3,
    End = 4,
};

// RAM record flags.
inline constexpr uint32_t kRamFlagZero = 1u << 0;   // no data follows: the pages are zero

// Header sizes per kind, the kind and the trailing header CRC included.
inline constexpr size_t kSectionHeaderBytes = 28;
inline constexpr size_t kRamHeaderBytes = 24;
inline constexpr size_t kIterationEndHeaderBytes = 12;
inline constexpr size_t kEndHeaderBytes = 28;
inline constexpr size_t kMaxRecordHeaderBytes = 28;
inline constexpr size_t kCrcBytes = 4;

// Little-endian field codecs over raw bytes (no alignment needed).
inline void put_u32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
    return v;
}
inline uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

// A section id is 1..255 bytes of printable ASCII without space
// ("cpu/0", "serial/com1", "virtio-net/net0").
bool valid_section_id(std::string_view id);

}  // namespace molt::migration::stream
