// The ACPI tables molt gives a Linux guest (hw/boot), per the ACPI 6.5
// specification: how Linux on x86 finds the interrupt controllers and the
// virtio-mmio devices (Debian's kernel has neither a device tree nor the
// virtio_mmio.device= command line option; it has ACPI).
//
//   RSDP -> XSDT -> FADT (hardware-reduced: no PM timer, no SCI) -> DSDT
//                -> MADT (local APIC 0, IOAPIC at 0xfec00000, IRQ 0 -> GSI 2)
//   DSDT: \_SB.COM1: _HID PNP0501 (a 16550), _CRS = its I/O ports and
//         interrupt.  In hardware-reduced mode Linux has no legacy PIC
//         and maps no ISA IRQ by itself: every interrupt comes from _CRS.
//         \_SB.VRxx, one per virtio-mmio window: _HID "LNRO0005" (the ID
//         Linux's virtio_mmio driver matches), _CRS = the window and its
//         interrupt.  Interrupts are edge-triggered, active high.
// The tables are laid out for one guest-physical address (the RSDP first)
// and returned as one blob to copy there.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/result.h"

namespace molt::hw {

struct AcpiDevice {
    uint64_t mmio_base;
    uint32_t mmio_bytes;
    uint32_t gsi;
};

struct AcpiDescription {
    uint16_t serial_port;   // COM1's base port (8 registers)
    uint32_t serial_gsi;
    std::vector<AcpiDevice> virtio_mmio;
};

// The tables for guest-physical `address`; the RSDP is at `address`.
std::vector<uint8_t> build_acpi_tables(const AcpiDescription& d, uint64_t address);

// AML encoding helpers, for the DSDT (and tests).
namespace aml {
std::vector<uint8_t> package_length(size_t content_bytes);
}  // namespace aml

}  // namespace molt::hw
