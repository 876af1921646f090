// Bus; see bus.h.
#include "hw/bus.h"

namespace molt::hw {

Result<void> Bus::insert(uint64_t base, uint64_t length, BusDevice* device) {
    if (length == 0 || base + length < base) return Error(m_name + ": empty or wrapping range");
    auto next = m_ranges.lower_bound(base);
    if (next != m_ranges.end() && next->first < base + length) {
        return Error(m_name + ": range overlaps another device");
    }
    if (next != m_ranges.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second.length > base) {
            return Error(m_name + ": range overlaps another device");
        }
    }
    m_ranges.emplace(base, Range{length, device});
    return ok();
}

const std::pair<const uint64_t, Bus::Range>* Bus::find(uint64_t addr, uint64_t size) const {
    auto it = m_ranges.upper_bound(addr);
    if (it == m_ranges.begin()) return nullptr;
    --it;
    uint64_t offset = addr - it->first;
    if (offset >= it->second.length || size > it->second.length - offset) return nullptr;
    return &*it;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
    const auto* r = find(addr, data.size());
    if (!r) return false;
    r->second.device->read(addr - r->first, data);
    return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
    const auto* r = find(addr, data.size());
    if (!r) return false;
    r->second.device->write(addr - r->first, data);
    return true;
}

}  // namespace molt::hw
