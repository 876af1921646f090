// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of
// every migration stream record (format.h).
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (chosen once, at
// first use), else a portable slice-by-8 table; both give the same value.
// Pure functions, callable from any thread.
#pragma once

#include <cstdint>
#include <span>

namespace molt::migration::stream {

// The CRC32C of data, continuing from crc (the result of an earlier call
// over the preceding bytes; 0 to start).  crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);

// The same, always with the table (tests compare the two paths).
uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc = 0);

// True when crc32c() uses the CPU instruction.
bool crc32c_hardware();

}  // namespace molt::migration::stream
