// load_linux(); see linux_loader.h.  Offsets are those of struct
// boot_params and struct setup_header (arch/x86/include/uapi/asm/
// bootparam.h, boot.rst "The real-mode kernel header").
#include "hw/boot/linux_loader.h"

#include <cstring>
#include <vector>

namespace molt::hw {

namespace {

// boot_params
constexpr size_t kAcpiRsdpAddr = 0x070, kE820Entries = 0x1e8, kSetupHeader = 0x1f1,
                 kE820Table = 0x2d0, kBootParamsBytes = 0x1000, kE820Max = 128;
// setup_header, as offsets in boot_params (and in the image)
constexpr size_t kSetupSects = 0x1f1, kJump = 0x200, kVersion = 0x206, kTypeOfLoader = 0x210,
                 kLoadflags = 0x211, kRamdiskImage = 0x218, kRamdiskSize = 0x21c,
                 kCmdLinePtr = 0x228, kInitrdAddrMax = 0x22c, kXloadflags = 0x236,
                 kCmdlineSize = 0x238, kInitSize = 0x260;
constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint16_t kXlfKernel64 = 0x01;
constexpr uint16_t kMinVersion = 0x020c;   // 2.12: xloadflags, 64-bit entry
constexpr uint32_t kE820Ram = 1, kE820Reserved = 2;
constexpr uint64_t kEbda = 0x9fc00;

template <class T>
T get(std::span<const uint8_t> b, size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof(T));
    return v;
}

template <class T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof(T));
}

struct E820Entry {
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));
static_assert(sizeof(E820Entry) == 20);

// Low RAM with the EBDA and firmware area cut out, then high RAM (from
// 4 GiB) if there is any.
void fill_e820(std::vector<uint8_t>& bp, const GuestMemory& ram) {
    std::vector<E820Entry> map = {
        {0, kEbda, kE820Ram},
        {kFirmwareAddress, kFirmwareBytes, kE820Reserved},
        {kKernelAddress, ram.low_bytes() - kKernelAddress, kE820Ram},
    };
    if (ram.high_bytes() > 0) map.push_back({GuestMemory::kHighBase, ram.high_bytes(), kE820Ram});
    static_assert(4 <= kE820Max);
    for (size_t i = 0; i < map.size(); ++i) put(bp, kE820Table + i * sizeof(E820Entry), map[i]);
    bp[kE820Entries] = static_cast<uint8_t>(map.size());
}

// Where the initrd goes: page-aligned, as high as RAM and the kernel allow,
// above the kernel's working range.
Result<uint64_t> place_initrd(uint64_t size, uint64_t kernel_end, uint64_t limit) {
    if (size > limit) return Error("the initrd does not fit in guest RAM");
    uint64_t at = (limit - size) & ~uint64_t{0xfff};
    if (at < kernel_end) return Error("the initrd does not fit in guest RAM above the kernel");
    return at;
}

}  // namespace

Result<LoadedLinux> load_linux(const LinuxImage& img, const GuestMemory& ram) {
    std::span<const uint8_t> k = img.kernel;
    if (k.size() < 0x270) return Error("truncated bzImage header");
    uint16_t version = get<uint16_t>(k, kVersion);
    if (version < kMinVersion) {
        return Error("boot protocol " + std::to_string(version >> 8) + "." +
                     std::to_string(version & 0xff) + " is too old (2.12 or later needed)");
    }
    if (!(get<uint16_t>(k, kXloadflags) & kXlfKernel64) || !(k[kLoadflags] & kLoadedHigh)) {
        return Error("the kernel has no 64-bit entry point");
    }
    size_t setup_sects = k[kSetupSects] ? k[kSetupSects] : 4;
    size_t kernel_offset = (setup_sects + 1) * 512;
    size_t header_end = kJump + 2 + k[kJump + 1];
    if (kernel_offset >= k.size() || header_end > kernel_offset || header_end > kBootParamsBytes) {
        return Error("bad bzImage setup header");
    }
    std::span<const uint8_t> payload = k.subspan(kernel_offset);
    uint64_t init_size = std::max<uint64_t>(get<uint32_t>(k, kInitSize), payload.size());
    uint64_t kernel_end = kKernelAddress + init_size;
    if (!ram.contains(0, kernel_end)) {
        return Error("the kernel needs " + std::to_string(kernel_end >> 20) + " MiB of guest RAM");
    }
    // The command line area ends well before the device tree at 0x80000.
    uint32_t cmdline_max = std::min<uint32_t>(get<uint32_t>(k, kCmdlineSize), 0xffff);
    if (img.cmdline.size() > cmdline_max) {
        return Error("the kernel command line is longer than the kernel's " +
                     std::to_string(cmdline_max) + " bytes");
    }

    std::vector<uint8_t> bp(kBootParamsBytes, 0);
    std::memcpy(bp.data() + kSetupHeader, k.data() + kSetupHeader, header_end - kSetupHeader);
    bp[kTypeOfLoader] = 0xff;   // "undefined" boot loader
    put<uint32_t>(bp, kCmdLinePtr, static_cast<uint32_t>(kCmdlineAddress));
    put<uint64_t>(bp, kAcpiRsdpAddr, img.rsdp_address);
    fill_e820(bp, ram);
    uint64_t initrd_at = 0;
    if (!img.initrd.empty()) {
        // In low RAM: initrd_addr_max is below 4 GiB anyway.
        uint64_t addr_max = uint64_t{get<uint32_t>(k, kInitrdAddrMax)} + 1;
        uint64_t limit = std::min<uint64_t>(ram.low_bytes(), addr_max);
        initrd_at = MOLT_TRY(place_initrd(img.initrd.size(), kernel_end, limit));
        put<uint32_t>(bp, kRamdiskImage, static_cast<uint32_t>(initrd_at));
        put<uint32_t>(bp, kRamdiskSize, static_cast<uint32_t>(img.initrd.size()));
    }

    MOLT_TRY(ram.write(kKernelAddress, payload));
    if (!img.initrd.empty()) MOLT_TRY(ram.write(initrd_at, img.initrd));
    MOLT_TRY(ram.write(kBootParamsAddress, bp));
    std::vector<uint8_t> cmdline(img.cmdline.begin(), img.cmdline.end());
    cmdline.push_back(0);
    MOLT_TRY(ram.write(kCmdlineAddress, cmdline));
    return LoadedLinux{kKernelAddress + 0x200, kBootParamsAddress, kernel_end};
}

}  // namespace molt::hw
