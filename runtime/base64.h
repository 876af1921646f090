// Base64 (RFC 4648, with padding) for binary blobs inside JSON state:
// encode, and a strict decode that refuses anything but the canonical form
// of some bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/result.h"

namespace molt {

std::string base64_encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace molt
