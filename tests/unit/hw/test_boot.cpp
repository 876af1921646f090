// Unit tests of the Linux boot pieces (hw/boot): the ACPI tables (RSDP ->
// XSDT -> FADT/MADT -> DSDT, checksums, the virtio-mmio devices in the
// DSDT's AML, AML package lengths at their encoding boundaries) and the
// bzImage loader against a synthetic image (layout, boot_params fields,
// initrd placement, and refusals that leave guest RAM untouched).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "hw/boot/acpi.h"
#include "hw/boot/image_file.h"
#include "hw/boot/linux_loader.h"

using namespace molt::hw;

namespace {

template <class T>
T get(const std::vector<uint8_t>& b, size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof(T));
    return v;
}

template <class T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof(T));
}

bool sums_to_zero(const std::vector<uint8_t>& b, size_t off, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + b[off + i]);
    return sum == 0;
}

// The table at guest address `gpa` inside the blob placed at `base`.
size_t table_at(const std::vector<uint8_t>& blob, uint64_t base, uint64_t gpa, const char* sig) {
    REQUIRE(gpa >= base);
    size_t off = static_cast<size_t>(gpa - base);
    REQUIRE(off + 36 <= blob.size());
    CHECK(std::string(reinterpret_cast<const char*>(blob.data() + off), 4) == sig);
    uint32_t len = get<uint32_t>(blob, off + 4);
    REQUIRE(off + len <= blob.size());
    CHECK(sums_to_zero(blob, off, len));
    return off;
}

}  // namespace

TEST_CASE("ACPI: RSDP, XSDT, FADT, MADT and DSDT are linked and checksummed") {
    constexpr uint64_t kBase = 0xe0000;
    AcpiDescription d{0x3f8, 4, {}};
    d.virtio_mmio.push_back({0xd0000000, 0x200, 16});
    d.virtio_mmio.push_back({0xd0001000, 0x200, 17});
    std::vector<uint8_t> blob = build_acpi_tables(d, kBase);
    REQUIRE(blob.size() > 36);
    CHECK(std::string(reinterpret_cast<const char*>(blob.data()), 8) == "RSD PTR ");
    CHECK(blob[15] == 2);
    CHECK(sums_to_zero(blob, 0, 20));
    CHECK(sums_to_zero(blob, 0, 36));
    size_t xsdt = table_at(blob, kBase, get<uint64_t>(blob, 24), "XSDT");
    CHECK(get<uint32_t>(blob, xsdt + 4) == 36 + 16);
    size_t fadt = table_at(blob, kBase, get<uint64_t>(blob, xsdt + 36), "FACP");
    size_t madt = table_at(blob, kBase, get<uint64_t>(blob, xsdt + 44), "APIC");
    CHECK(get<uint32_t>(blob, fadt + 4) == 276);
    CHECK((get<uint32_t>(blob, fadt + 112) & (1u << 20)) != 0);   // HW_REDUCED_ACPI
    uint64_t dsdt_gpa = get<uint64_t>(blob, fadt + 140);
    CHECK(get<uint32_t>(blob, fadt + 40) == dsdt_gpa);
    size_t dsdt = table_at(blob, kBase, dsdt_gpa, "DSDT");
    CHECK(get<uint32_t>(blob, madt + 36) == 0xfee00000);
    // The IOAPIC entry (type 1) at 0xfec00000, GSI base 0.
    CHECK(blob[madt + 44 + 8] == 1);
    CHECK(get<uint32_t>(blob, madt + 44 + 8 + 4) == 0xfec00000);

    std::string aml(blob.begin() + static_cast<long>(dsdt) + 36,
                    blob.begin() + static_cast<long>(dsdt + get<uint32_t>(blob, dsdt + 4)));
    CHECK(aml.rfind("\x10", 0) == 0);                        // Scope
    CHECK(aml.find("\\_SB_") != std::string::npos);
    CHECK(aml.find("VR00") != std::string::npos);
    CHECK(aml.find("VR01") != std::string::npos);
    size_t hid = aml.find("LNRO0005");
    REQUIRE(hid != std::string::npos);
    CHECK(aml.find("LNRO0005", hid + 1) != std::string::npos);
    // Memory32Fixed for the second window and its extended interrupt.
    const char window[] = {'\x86', 9, 0, 1, 0, 0x10, 0, '\xd0', 0, 2, 0, 0};
    CHECK(aml.find(std::string(window, sizeof(window))) != std::string::npos);
    const char irq[] = {'\x89', 6, 0, 3, 1, 17, 0, 0, 0};
    CHECK(aml.find(std::string(irq, sizeof(irq))) != std::string::npos);
    // COM1: EisaId("PNP0501"), ports 0x3f8-0x3ff, GSI 4.
    CHECK(aml.find("COM1") != std::string::npos);
    CHECK(aml.find(std::string("\x08_HID\x0c\x41\xd0\x05\x01", 10)) != std::string::npos);
    const char ports[] = {'\x47', 1, '\xf8', 3, '\xf8', 3, 1, 8, '\x89', 6, 0, 3, 1, 4, 0, 0, 0};
    CHECK(aml.find(std::string(ports, sizeof(ports))) != std::string::npos);
}

TEST_CASE("AML package lengths at the encoding boundaries") {
    CHECK(aml::package_length(0) == std::vector<uint8_t>{1});
    CHECK(aml::package_length(62) == std::vector<uint8_t>{63});
    // 63 bytes of content need two length bytes: 65 = 0x41.
    CHECK(aml::package_length(63) == std::vector<uint8_t>{0x41, 0x04});
    CHECK(aml::package_length(0xffd) == std::vector<uint8_t>{0x4f, 0xff});
    CHECK(aml::package_length(0xffe) == std::vector<uint8_t>{0x81, 0x00, 0x01});
}

namespace {

// A synthetic bzImage: one setup sector, boot protocol 2.15, 64-bit entry.
std::vector<uint8_t> make_bzimage(size_t payload_bytes, uint16_t version = 0x020f) {
    std::vector<uint8_t> k(1024 + payload_bytes, 0);
    k[0x1f1] = 1;                         // setup_sects
    k[0x200] = 0xeb;                      // jmp over the header,
    k[0x201] = 0x66;                      //   which ends at 0x268
    std::memcpy(k.data() + 0x202, "HdrS", 4);
    put<uint16_t>(k, 0x206, version);
    k[0x211] = 0x01;                      // LOADED_HIGH
    put<uint32_t>(k, 0x22c, 0x7fffffff);  // initrd_addr_max
    put<uint16_t>(k, 0x236, 0x1);         // XLF_KERNEL_64
    put<uint32_t>(k, 0x238, 255);         // cmdline_size
    put<uint32_t>(k, 0x260, 0x200000);    // init_size: 2 MiB
    for (size_t i = 0; i < payload_bytes; ++i) k[1024 + i] = static_cast<uint8_t>(i * 7 + 1);
    return k;
}

}  // namespace

TEST_CASE("Linux loader: lays out kernel, boot_params, command line and initrd") {
    std::vector<uint8_t> host(16 << 20, 0xcc);
    GuestMemory ram(host);
    std::vector<uint8_t> kernel = make_bzimage(5000);
    std::vector<uint8_t> initrd(10000, 0x5a);
    auto l = load_linux({kernel, initrd, "console=ttyS0 quiet", 0xe0000}, ram);
    REQUIRE(l);
    CHECK(l->entry == 0x100200);
    CHECK(l->boot_params == 0x7000);
    CHECK(std::equal(kernel.begin() + 1024, kernel.end(), host.begin() + 0x100000));
    CHECK(std::string(reinterpret_cast<const char*>(host.data() + 0x20000)) == "console=ttyS0 quiet");
    const uint8_t* bp = host.data() + 0x7000;
    std::vector<uint8_t> params(bp, bp + 4096);
    CHECK(std::memcmp(bp + 0x202, "HdrS", 4) == 0);       // the setup header, copied
    CHECK(params[0x210] == 0xff);                          // type_of_loader
    CHECK(get<uint32_t>(params, 0x228) == 0x20000);        // cmd_line_ptr
    CHECK(get<uint64_t>(params, 0x070) == 0xe0000);        // acpi_rsdp_addr
    CHECK(params[0x269] == 0);                             // beyond the header: zeroed
    // The initrd: page-aligned at the top of RAM.
    uint32_t at = get<uint32_t>(params, 0x218);
    CHECK(at % 4096 == 0);
    CHECK(at + 10000 <= host.size());
    CHECK(host.size() - (at + 10000) < 4096);
    CHECK(get<uint32_t>(params, 0x21c) == 10000);
    CHECK(host[at] == 0x5a);
    // e820: low RAM, the firmware tables, RAM from 1 MiB to the end.
    REQUIRE(params[0x1e8] == 3);
    CHECK(get<uint64_t>(params, 0x2d0 + 20) == 0xe0000);
    CHECK(get<uint32_t>(params, 0x2d0 + 20 + 16) == 2);
    CHECK(get<uint64_t>(params, 0x2d0 + 40) == 0x100000);
    CHECK(get<uint64_t>(params, 0x2d0 + 48) == host.size() - 0x100000);
}

TEST_CASE("Linux loader: refuses bad images and impossible layouts, writing nothing") {
    std::vector<uint8_t> host(4 << 20, 0xcc);
    GuestMemory ram(host);
    auto refuses = [&](const std::vector<uint8_t>& kernel, const std::vector<uint8_t>& initrd,
                       const std::string& cmdline, const std::string& what) {
        auto r = load_linux({kernel, initrd, cmdline, 0}, ram);
        REQUIRE_FALSE(r);
        CHECK_MESSAGE(r.error().message().find(what) != std::string::npos, r.error().message());
        CHECK(std::all_of(host.begin(), host.end(), [](uint8_t b) { return b == 0xcc; }));
    };
    std::vector<uint8_t> good = make_bzimage(100);
    refuses(std::vector<uint8_t>(0x300, 0), {}, "", "boot protocol 0.0 is too old");
    refuses(make_bzimage(100, 0x020b), {}, "", "boot protocol 2.11 is too old");
    std::vector<uint8_t> no64 = good;
    put<uint16_t>(no64, 0x236, 0);
    refuses(no64, {}, "", "no 64-bit entry point");
    std::vector<uint8_t> bad_sects = good;
    bad_sects[0x1f1] = 200;   // setup beyond the file
    refuses(bad_sects, {}, "", "bad bzImage setup header");
    refuses(good, {}, std::string(256, 'x'), "longer than the kernel's 255 bytes");
    std::vector<uint8_t> huge = good;
    put<uint32_t>(huge, 0x260, 8 << 20);   // init_size beyond RAM
    refuses(huge, {}, "", "the kernel needs 9 MiB of guest RAM");
    refuses(good, std::vector<uint8_t>(3 << 20, 1), "", "initrd does not fit");
    refuses(std::vector<uint8_t>(10, 0), {}, "", "truncated bzImage header");
}

TEST_CASE("image files: one byte over the size limit is refused before it is read") {
    char path[] = "/tmp/molt-image-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    // Sparse: no disk space, and nothing is read (the size decides).
    REQUIRE(ftruncate(fd, static_cast<off_t>(kMaxImageBytes + 1)) == 0);
    close(fd);
    molt::Result<std::vector<uint8_t>> image = read_image_file(path);
    unlink(path);
    REQUIRE_FALSE(image);
    CHECK(image.error().message() == "'" + std::string(path) + "' is too large (1073741825 bytes, the limit is 1024 MiB)");
}
