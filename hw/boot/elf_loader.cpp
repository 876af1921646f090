// load_elf(); see elf_loader.h.  ELF layout per the System V gABI and the
// x86-64 psABI (<elf.h>).
#include "hw/boot/elf_loader.h"

#include <elf.h>

#include <cstring>
#include <vector>

#include "hw/boot/image_file.h"

namespace molt::hw {

namespace {

constexpr uint16_t kMaxSegments = 64;

template <class T>
T at(const std::vector<uint8_t>& f, size_t off) {
    T v;
    std::memcpy(&v, f.data() + off, sizeof(T));
    return v;
}

Result<void> check_header(const std::vector<uint8_t>& f, const Elf64_Ehdr& eh) {
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        return Error("not a 64-bit little-endian ELF file");
    }
    if (eh.e_machine != EM_X86_64) return Error("not an x86-64 ELF file");
    if (eh.e_type != ET_EXEC) return Error("not an ELF executable (ET_EXEC)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxSegments) {
        return Error("bad ELF program header table");
    }
    if (eh.e_phoff > f.size() || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > f.size() - eh.e_phoff) {
        return Error("ELF program headers lie outside the file");
    }
    return ok();
}

}  // namespace

Result<LoadedImage> load_elf(const std::string& path, const GuestMemory& ram) {
    std::vector<uint8_t> f = MOLT_TRY(read_image_file(path));
    if (is_bzimage(f)) return Error("'" + path + "' is a Linux bzImage, not an ELF file");
    if (f.size() < sizeof(Elf64_Ehdr) || std::memcmp(f.data(), ELFMAG, SELFMAG) != 0) {
        return Error("'" + path + "' is not an ELF file");
    }
    auto eh = at<Elf64_Ehdr>(f, 0);
    Result<void> r = check_header(f, eh);
    if (!r) return Error(r.error()).with_context("'" + path + "'");

    LoadedImage img{eh.e_entry, UINT64_MAX, 0};
    // Check every segment first: nothing is written for a bad image.
    std::vector<Elf64_Phdr> loads;
    for (uint16_t i = 0; i < eh.e_phnum; ++i) {
        auto ph = at<Elf64_Phdr>(f, eh.e_phoff + size_t{i} * sizeof(Elf64_Phdr));
        if (ph.p_type != PT_LOAD) continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > f.size() || ph.p_filesz > f.size() - ph.p_offset) {
            return Error("'" + path + "': segment " + std::to_string(i) + " lies outside the file");
        }
        if (!ram.contains(ph.p_paddr, ph.p_memsz)) {
            return Error("'" + path + "': segment " + std::to_string(i) + " does not fit in guest RAM (" +
                         std::to_string(ram.size_bytes() >> 20) + " MiB)");
        }
        img.low = std::min(img.low, ph.p_paddr);
        img.high = std::max(img.high, ph.p_paddr + ph.p_memsz);
        loads.push_back(ph);
    }
    if (loads.empty()) return Error("'" + path + "': no loadable segment");
    if (img.entry < img.low || img.entry >= img.high) {
        return Error("'" + path + "': entry point outside the loaded image");
    }
    for (const auto& ph : loads) {
        MOLT_TRY(ram.write(ph.p_paddr, std::span(f.data() + ph.p_offset, ph.p_filesz)));
        MOLT_TRY(ram.fill(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz, 0));
    }
    return img;
}

}  // namespace molt::hw
