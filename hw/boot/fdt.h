// The device tree molt gives its guests (hw/boot), built with libfdt.
//
// Test guests find RAM, the serial port and (later) virtio-mmio devices
// here; -machine dumpdtb=FILE writes it out (`dtc -I dtb` reads it).
// Layout: / (#address-cells = #size-cells = 2, compatible "molt,machine",
// interrupt-parent = the IOAPIC), /ioapic@fec00000,
// /chosen (bootargs from -append, stdout-path), /memory@0 (reg: one
// (address, size) pair per RAM region: low RAM from 0, high RAM from
// 4 GiB), /serial (ns16550a; its x86 I/O port in "molt,io-port", its IRQ
// in "interrupts"), and one /virtio_mmio@BASE (compatible "virtio,mmio",
// reg, interrupts = the IOAPIC input) per virtio device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/result.h"

namespace molt::hw {

struct FdtVirtio {
    uint64_t base;   // a 0x200-byte window
    uint32_t irq;
};

struct FdtMemory {
    uint64_t gpa, size_bytes;
};

struct FdtDescription {
    std::vector<FdtMemory> memory;   // in address order
    std::string bootargs;
    uint32_t serial_io_port;
    uint32_t serial_irq;
    std::vector<FdtVirtio> virtio_mmio;
};

Result<std::vector<uint8_t>> build_fdt(const FdtDescription& d);

// Where the device tree goes in guest RAM, passed to the guest in RDI:
// below the image at 1 MiB.
inline constexpr uint64_t kFdtAddress = 0x80000;
inline constexpr uint64_t kFdtMaxBytes = 0x80000;

}  // namespace molt::hw
