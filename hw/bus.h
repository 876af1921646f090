// The port-I/O and MMIO buses (hw/): address ranges -> devices.
//
// A vCPU exit (or a Unicorn hook) for an I/O port or an MMIO address is
// looked up here and handed to the device with the offset inside its
// range.  Ranges never overlap.  Devices are owned by the Machine; the bus
// holds non-owning pointers.  Lookups happen on vCPU threads; the bus is
// built before the vCPUs start and not changed while they run.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "runtime/result.h"

namespace molt::hw {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    // An access of data.size() bytes (1, 2, 4 or 8) at offset; a device
    // that does not decode it reads as all ones and ignores writes.
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
public:
    explicit Bus(std::string name) : m_name(std::move(name)) {}

    Result<void> insert(uint64_t base, uint64_t length, BusDevice* device);

    // false when no device covers [addr, addr + size).
    bool read(uint64_t addr, std::span<uint8_t> data) const;
    bool write(uint64_t addr, std::span<const uint8_t> data) const;

private:
    struct Range {
        uint64_t length;
        BusDevice* device;
    };
    const std::pair<const uint64_t, Range>* find(uint64_t addr, uint64_t size) const;

    std::string m_name;
    std::map<uint64_t, Range> m_ranges;   // by base
};

}  // namespace molt::hw
