// build_acpi_tables(); see acpi.h.  Table layouts: ACPI 6.5 sections 5.2
// (RSDP, system description header, XSDT, FADT, MADT) and 19-20 (AML,
// resource descriptors 6.4).  The AML is written by hand: a handful of
// named objects is all Linux needs to enumerate the devices.
#include "hw/boot/acpi.h"

#include <cstring>
#include <string_view>

namespace molt::hw {

namespace {

using Bytes = std::vector<uint8_t>;

void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

template <class T>
void append_le(Bytes& b, T v) {
    for (size_t i = 0; i < sizeof(T); ++i) b.push_back(static_cast<uint8_t>(uint64_t{v} >> (8 * i)));
}

template <class T>
void put_le(Bytes& b, size_t off, T v) {
    for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = static_cast<uint8_t>(uint64_t{v} >> (8 * i));
}

uint8_t checksum(const uint8_t* p, size_t n) {
    uint8_t sum = 0;
    for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
    return static_cast<uint8_t>(-sum);
}

// A system description table: the 36-byte header (5.2.6) and `body`.
Bytes table(std::string_view signature, uint8_t revision, const Bytes& body) {
    Bytes t;
    append(t, signature);
    append_le<uint32_t>(t, static_cast<uint32_t>(36 + body.size()));
    t.push_back(revision);
    t.push_back(0);   // checksum, below
    append(t, "MOLT  ");
    append(t, "MOLTVM  ");
    append_le<uint32_t>(t, 1);   // OEM revision
    append(t, "MOLT");
    append_le<uint32_t>(t, 1);   // creator revision
    append(t, body);
    t[9] = checksum(t.data(), t.size());
    return t;
}

// FADT (5.2.9), revision 6.5, hardware-reduced: everything but the DSDT
// pointers, the flags and the boot architecture flags stays zero.
Bytes fadt(uint64_t dsdt) {
    Bytes body(276 - 36, 0);
    auto at = [](size_t table_offset) { return table_offset - 36; };
    put_le<uint32_t>(body, at(40), static_cast<uint32_t>(dsdt));
    constexpr uint16_t kVgaNotPresent = 1 << 2, kCmosRtcNotPresent = 1 << 5;   // no 8042 either
    put_le<uint16_t>(body, at(109), kVgaNotPresent | kCmosRtcNotPresent);
    constexpr uint32_t kHwReducedAcpi = 1 << 20;
    put_le<uint32_t>(body, at(112), kHwReducedAcpi);
    body[at(131)] = 5;   // minor version
    put_le<uint64_t>(body, at(140), dsdt);
    std::memcpy(body.data() + at(268), "MOLTVMM ", 8);   // hypervisor vendor
    return table("FACP", 6, body);
}

// MADT (5.2.12): one local APIC, the IOAPIC, IRQ 0 (the PIT) on GSI 2 as
// on PCs, and LINT1 as NMI.
Bytes madt() {
    Bytes b;
    append_le<uint32_t>(b, 0xfee00000);   // local APIC address
    append_le<uint32_t>(b, 1);            // PCAT_COMPAT: the 8259s exist (masked by Linux)
    b.insert(b.end(), {0, 8, 0, 0});      // processor local APIC: UID 0, APIC ID 0
    append_le<uint32_t>(b, 1);            // enabled
    b.insert(b.end(), {1, 12, 0, 0});     // I/O APIC: ID 0
    append_le<uint32_t>(b, 0xfec00000);
    append_le<uint32_t>(b, 0);            // GSI base
    b.insert(b.end(), {2, 10, 0, 0});     // interrupt source override: ISA IRQ 0
    append_le<uint32_t>(b, 2);            //   -> GSI 2
    append_le<uint16_t>(b, 0);            //   conforms to the bus
    b.insert(b.end(), {4, 6, 0xff});      // local APIC NMI: all processors
    append_le<uint16_t>(b, 0);
    b.push_back(1);                       //   LINT1
    return table("APIC", 5, b);
}

// --- AML (20.2) ---

Bytes with_length(uint8_t op, const Bytes& content) {
    Bytes b{op};
    append(b, aml::package_length(content.size()));
    append(b, content);
    return b;
}

Bytes aml_integer(uint64_t v) {
    Bytes b;
    if (v == 0 || v == 1) return {static_cast<uint8_t>(v)};   // ZeroOp, OneOp
    if (v <= 0xff) {
        b.push_back(0x0a);
        append_le<uint8_t>(b, static_cast<uint8_t>(v));
    } else if (v <= 0xffff) {
        b.push_back(0x0b);
        append_le<uint16_t>(b, static_cast<uint16_t>(v));
    } else if (v <= 0xffffffff) {
        b.push_back(0x0c);
        append_le<uint32_t>(b, static_cast<uint32_t>(v));
    } else {
        b.push_back(0x0e);
        append_le<uint64_t>(b, v);
    }
    return b;
}

Bytes aml_name(std::string_view seg, const Bytes& value) {
    Bytes b{0x08};   // NameOp
    append(b, seg);
    append(b, value);
    return b;
}

Bytes aml_string(std::string_view s) {
    Bytes b{0x0d};
    append(b, s);
    b.push_back(0);
    return b;
}

Bytes aml_buffer(const Bytes& data) {
    Bytes content = aml_integer(data.size());
    append(content, data);
    return with_length(0x11, content);   // BufferOp
}

// An extended interrupt descriptor (6.4.3.6): consumer, edge, active
// high, exclusive, one GSI.
void append_interrupt(Bytes& r, uint32_t gsi) {
    r.insert(r.end(), {0x89, 6, 0, 0x03, 1});
    append_le<uint32_t>(r, gsi);
}

Bytes end_tag(Bytes r) {
    r.insert(r.end(), {0x79, 0});
    return aml_buffer(r);
}

// _CRS of one virtio-mmio window: Memory32Fixed (6.4.3.4, read-write).
Bytes mmio_resources(const AcpiDevice& d) {
    Bytes r{0x86, 9, 0, 1};
    append_le<uint32_t>(r, static_cast<uint32_t>(d.mmio_base));
    append_le<uint32_t>(r, d.mmio_bytes);
    append_interrupt(r, d.gsi);
    return end_tag(r);
}

// _CRS of the UART: an I/O port descriptor (6.4.2.5: 16-bit decode, 8
// ports at one fixed base).
Bytes serial_resources(uint16_t port, uint32_t gsi) {
    Bytes r{0x47, 1};
    append_le<uint16_t>(r, port);
    append_le<uint16_t>(r, port);
    r.insert(r.end(), {1, 8});
    append_interrupt(r, gsi);
    return end_tag(r);
}

Bytes aml_device(std::string_view name, const Bytes& body) {
    Bytes content;
    append(content, name);
    append(content, body);
    Bytes device{0x5b};   // ExtOpPrefix, DeviceOp
    append(device, with_length(0x82, content));
    return device;
}

// EisaId("PNP0501"): three letters in 5 bits each, then four hex digits,
// stored big-endian (6.1.5).
constexpr uint32_t kEisaPnp0501 = 0x0105d041;

Bytes dsdt(const AcpiDescription& d) {
    Bytes com1 = aml_name("_HID", aml_integer(kEisaPnp0501));
    append(com1, aml_name("_UID", aml_integer(1)));
    append(com1, aml_name("_CRS", serial_resources(d.serial_port, d.serial_gsi)));
    Bytes devices = aml_device("COM1", com1);
    for (size_t i = 0; i < d.virtio_mmio.size(); ++i) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        std::string name = {'V', 'R', kHex[(i >> 4) & 0xf], kHex[i & 0xf]};
        Bytes body = aml_name("_HID", aml_string("LNRO0005"));
        append(body, aml_name("_UID", aml_integer(i)));
        append(body, aml_name("_CRS", mmio_resources(d.virtio_mmio[i])));
        append(devices, aml_device(name, body));
    }
    Bytes scope_content{'\\', '_', 'S', 'B', '_'};
    append(scope_content, devices);
    return table("DSDT", 2, with_length(0x10, scope_content));   // ScopeOp
}

}  // namespace

namespace aml {

// PkgLength (20.2.4): the length counts its own encoding; 1 byte up to
// 63, else a lead byte (bits 7-6: how many follow, 3-0: low nibble) and
// up to three more bytes.
Bytes package_length(size_t content) {
    for (size_t extra = 0; extra < 4; ++extra) {
        size_t total = content + 1 + extra;
        if (extra == 0 && total <= 0x3f) return {static_cast<uint8_t>(total)};
        if (extra > 0 && total < (size_t{1} << (4 + 8 * extra))) {
            Bytes b{static_cast<uint8_t>((extra << 6) | (total & 0xf))};
            for (size_t i = 0; i < extra; ++i) b.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
            return b;
        }
    }
    MOLT_ASSERT(false && "AML object too large");
    return {};
}

}  // namespace aml

std::vector<uint8_t> build_acpi_tables(const AcpiDescription& d, uint64_t address) {
    auto aligned = [](size_t n) { return (n + 15) & ~size_t{15}; };
    constexpr size_t kRsdpBytes = 36;
    Bytes dsdt_table = dsdt(d);
    Bytes madt_table = madt();
    size_t xsdt_at = aligned(kRsdpBytes);
    size_t xsdt_bytes = 36 + 2 * 8;
    size_t dsdt_at = aligned(xsdt_at + xsdt_bytes);
    size_t fadt_at = aligned(dsdt_at + dsdt_table.size());
    Bytes fadt_table = fadt(address + dsdt_at);
    size_t madt_at = aligned(fadt_at + fadt_table.size());

    Bytes xsdt_body;
    append_le<uint64_t>(xsdt_body, address + fadt_at);
    append_le<uint64_t>(xsdt_body, address + madt_at);
    Bytes xsdt = table("XSDT", 1, xsdt_body);

    Bytes out(madt_at + madt_table.size(), 0);
    // RSDP (5.2.5), revision 2.
    std::memcpy(out.data(), "RSD PTR ", 8);
    std::memcpy(out.data() + 9, "MOLT  ", 6);
    out[15] = 2;
    put_le<uint32_t>(out, 20, kRsdpBytes);
    put_le<uint64_t>(out, 24, address + xsdt_at);
    out[8] = checksum(out.data(), 20);
    out[32] = checksum(out.data(), kRsdpBytes);
    std::memcpy(out.data() + xsdt_at, xsdt.data(), xsdt.size());
    std::memcpy(out.data() + dsdt_at, dsdt_table.data(), dsdt_table.size());
    std::memcpy(out.data() + fadt_at, fadt_table.data(), fadt_table.size());
    std::memcpy(out.data() + madt_at, madt_table.data(), madt_table.size());
    return out;
}

}  // namespace molt::hw
