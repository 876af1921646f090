// CRC32C implementations (crc32c.h): the SSE4.2 instruction on x86-64 in
// three interleaved lanes, a slice-by-8 table elsewhere, selected once.
#include "migration/stream/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace molt::migration::stream {

namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;   // reflected Castagnoli

// kTables[k][b]: the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
        t[0][b] = c;
    }
    for (size_t k = 1; k < 8; ++k) {
        for (size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
    }
    return t;
}

constexpr auto kTables = make_tables();

uint64_t load_le64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));   // x86-64 and the other hosts molt targets are little-endian
    return v;
}

uint32_t portable_raw(const uint8_t* p, size_t n, uint32_t c) {
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w = load_le64(p) ^ c;
        c = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
            kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
            kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    }
    for (; n > 0; --n, ++p) c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xff];
    return c;
}

// The CRC register is linear: crc(A||B) from state s equals
// shift(s, |B|) ^ crc(B) from state 0, where shift(s, n) runs n zero bytes
// through the register.  So three lanes of kLaneBytes can be computed at
// once (the crc32 instruction has a latency of 3 cycles and a throughput
// of 1) and joined with two shifts.  Shift by kLaneBytes is linear too:
// four byte-indexed tables, built once from the portable CRC.
constexpr size_t kLaneBytes = 1024;

struct ShiftTables {
    std::array<std::array<uint32_t, 256>, 4> t{};

    ShiftTables() {
        static const uint8_t zeros[kLaneBytes] = {};
        std::array<uint32_t, 32> bit{};
        for (size_t i = 0; i < 32; ++i) bit[i] = portable_raw(zeros, kLaneBytes, 1u << i);
        for (size_t k = 0; k < 4; ++k) {
            for (size_t b = 0; b < 256; ++b) {
                for (size_t j = 0; j < 8; ++j) {
                    if (b & (1u << j)) t[k][b] ^= bit[8 * k + j];
                }
            }
        }
    }

    uint32_t shift(uint32_t c) const {
        return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
    }
};

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t hardware_raw(const uint8_t* p, size_t n, uint32_t c) {
    static const ShiftTables tables;
    for (; n >= 3 * kLaneBytes; n -= 3 * kLaneBytes, p += 3 * kLaneBytes) {
        // Guest RAM is usually cold: fetch the next block while this one
        // is summed (doubles the rate from DRAM; prefetches never fault).
        for (size_t ahead = 0; ahead < 3 * kLaneBytes; ahead += 64)
            __builtin_prefetch(p + 3 * kLaneBytes + ahead);
        uint64_t c0 = c, c1 = 0, c2 = 0;
        for (size_t i = 0; i < kLaneBytes; i += 8) {
            c0 = _mm_crc32_u64(c0, load_le64(p + i));
            c1 = _mm_crc32_u64(c1, load_le64(p + kLaneBytes + i));
            c2 = _mm_crc32_u64(c2, load_le64(p + 2 * kLaneBytes + i));
        }
        c = tables.shift(tables.shift(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1)) ^
            static_cast<uint32_t>(c2);
    }
    uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) c64 = _mm_crc32_u64(c64, load_le64(p));
    c = static_cast<uint32_t>(c64);
    for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
    return c;
}

bool detect_hardware() { return __builtin_cpu_supports("sse4.2"); }
#else
uint32_t hardware_raw(const uint8_t* p, size_t n, uint32_t c) { return portable_raw(p, n, c); }
bool detect_hardware() { return false; }
#endif

}  // namespace

bool crc32c_hardware() {
    static const bool hardware = detect_hardware();
    return hardware;
}

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) {
    uint32_t c = ~crc;
    c = crc32c_hardware() ? hardware_raw(data.data(), data.size(), c)
                          : portable_raw(data.data(), data.size(), c);
    return ~c;
}

uint32_t crc32c_portable(std::span<const uint8_t> data, uint32_t crc) {
    return ~portable_raw(data.data(), data.size(), ~crc);
}

}  // namespace molt::migration::stream
