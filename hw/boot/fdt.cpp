// build_fdt(); see fdt.h.  libfdt's sequential-write API (fdt_create ...
// fdt_finish); node and property names per the Devicetree Specification
// v0.4, sections 3.2-3.5.
#include "hw/boot/fdt.h"

#include <cstdio>

extern "C" {
#include <libfdt.h>
}


namespace molt::hw {

namespace {

constexpr uint32_t kIoapicPhandle = 1;

struct Writer {
    std::vector<uint8_t> buf;
    int err = 0;

    void check(int rc) {
        if (rc < 0 && err == 0) err = rc;
    }
    void begin(const char* name) { check(fdt_begin_node(buf.data(), name)); }
    void end() { check(fdt_end_node(buf.data())); }
    void str(const char* name, const std::string& v) {
        check(fdt_property(buf.data(), name, v.c_str(), static_cast<int>(v.size() + 1)));
    }
    void u32(const char* name, uint32_t v) { check(fdt_property_u32(buf.data(), name, v)); }
    void cells32(const char* name, uint32_t a, uint32_t b) {
        fdt32_t cells[2] = {cpu_to_fdt32(a), cpu_to_fdt32(b)};
        check(fdt_property(buf.data(), name, cells, sizeof(cells)));
    }
    void empty(const char* name) { check(fdt_property(buf.data(), name, nullptr, 0)); }
    void cells64(const char* name, uint64_t a, uint64_t b) {
        fdt64_t cells[2] = {cpu_to_fdt64(a), cpu_to_fdt64(b)};
        check(fdt_property(buf.data(), name, cells, sizeof(cells)));
    }
};

}  // namespace

Result<std::vector<uint8_t>> build_fdt(const FdtDescription& d) {
    Writer w;
    w.buf.resize(64 * 1024);
    w.check(fdt_create(w.buf.data(), static_cast<int>(w.buf.size())));
    w.check(fdt_finish_reservemap(w.buf.data()));
    w.begin("");
    w.u32("#address-cells", 2);
    w.u32("#size-cells", 2);
    w.str("compatible", "molt,machine");
    w.str("model", "molt");
    w.u32("interrupt-parent", kIoapicPhandle);

    w.begin("chosen");
    w.str("bootargs", d.bootargs);
    w.str("stdout-path", "/serial");
    w.end();

    w.begin("memory@0");
    w.str("device_type", "memory");
    std::vector<fdt64_t> reg;
    for (const FdtMemory& m : d.memory) {
        reg.push_back(cpu_to_fdt64(m.gpa));
        reg.push_back(cpu_to_fdt64(m.size_bytes));
    }
    int reg_bytes = static_cast<int>(reg.size() * sizeof(fdt64_t));
    w.check(fdt_property(w.buf.data(), "reg", reg.data(), reg_bytes));
    w.end();

    // The IOAPIC, as the x86 binding describes it (interrupt cells: the
    // input, then the trigger: 0 = edge rising).
    w.begin("ioapic@fec00000");
    w.str("compatible", "intel,ce4100-ioapic");
    w.empty("interrupt-controller");
    w.u32("#interrupt-cells", 2);
    w.u32("#address-cells", 0);
    w.cells64("reg", 0xfec00000, 0x1000);
    w.u32("phandle", kIoapicPhandle);
    w.end();

    // No unit address: an x86 I/O port is not a "reg" on the root bus.
    w.begin("serial");
    w.str("compatible", "ns16550a");
    w.u32("clock-frequency", 1843200);
    w.u32("molt,io-port", d.serial_io_port);
    w.cells32("interrupts", d.serial_irq, 0);
    w.end();

    for (const FdtVirtio& v : d.virtio_mmio) {
        char name[40];
        std::snprintf(name, sizeof(name), "virtio_mmio@%llx", static_cast<unsigned long long>(v.base));
        w.begin(name);
        w.str("compatible", "virtio,mmio");
        w.cells64("reg", v.base, 0x200);
        w.cells32("interrupts", v.irq, 0);
        w.end();
    }

    w.end();
    w.check(fdt_finish(w.buf.data()));
    if (w.err) return Error(std::string("device tree: ") + fdt_strerror(w.err));
    w.buf.resize(fdt_totalsize(w.buf.data()));
    return w.buf;
}

}  // namespace molt::hw
