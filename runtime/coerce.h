// Typed coercion of strings, with QEMU's rules (keyval and command line).
//
// Every function converts the WHOLE string or fails (nullopt); callers turn
// failure into their own message (e.g. "Parameter 'x' expects size").
//   bool:   on yes true y / off no false n (exact case)
//   int64:  strtoll base 0 (0x hex, leading 0 octal), leading space, sign
//   uint64: strtoull base 0; a minus sign negates modulo 2^64 (-1 = max)
//   size:   decimal with an optional fraction and one suffix B K M G T P E
//           (binary units, any case); a fraction needs a K-or-larger unit
//           and is rounded as QEMU does (strtod, 64-bit binary fraction,
//           half up); 0x hex without suffix; at most 2^64-1 (QEMU 8.1+
//           qemu_strtosz)
//   number: strtod, finite only (no inf/nan, no overflow or underflow)
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace molt {

std::optional<bool> parse_bool(std::string_view s);
std::optional<int64_t> parse_int64(std::string_view s);
std::optional<uint64_t> parse_uint64(std::string_view s);
std::optional<uint64_t> parse_size(std::string_view s);
std::optional<double> parse_number(std::string_view s);

}  // namespace molt
