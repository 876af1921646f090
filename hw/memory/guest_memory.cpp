// GuestMemory; see guest_memory.h.
#include "hw/memory/guest_memory.h"

#include <cstring>
#include <cstdio>
#include <string>

namespace molt::hw {

namespace {

Error outside(uint64_t gpa, uint64_t length) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "guest address range 0x%llx+0x%llx is outside RAM",
                  static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(length));
    return Error(buf);
}

}  // namespace

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
    if (!contains(gpa, out.size())) return outside(gpa, out.size());
    std::memcpy(out.data(), m_host.data() + gpa, out.size());
    return ok();
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) const {
    if (!contains(gpa, in.size())) return outside(gpa, in.size());
    std::memcpy(m_host.data() + gpa, in.data(), in.size());
    mark(gpa, in.size());
    return ok();
}

Result<void> GuestMemory::fill(uint64_t gpa, uint64_t length, uint8_t value) const {
    if (!contains(gpa, length)) return outside(gpa, length);
    std::memset(m_host.data() + gpa, value, length);
    mark(gpa, length);
    return ok();
}

}  // namespace molt::hw
