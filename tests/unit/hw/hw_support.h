// Test support for the machine's unit tests (tests/unit/hw): whether KVM
// can be used here, a minimal ELF64 image builder, temporary files, and
// page-aligned RAM (as KVM memory slots need).
#pragma once

#include <doctest/doctest.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace molt::hw::test {

// Whether the KVM test cases run: /dev/kvm opens here, or MOLT_REQUIRE_KVM=1
// (set by the nested KVM lane, tests/nested-kvm), which makes a missing
// /dev/kvm a failure of those cases instead of a skip.
inline bool kvm_usable() {
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    const char* require = std::getenv("MOLT_REQUIRE_KVM");
    return require != nullptr && std::string_view(require) == "1";
}

inline std::string temp_file(const std::vector<uint8_t>& bytes) {
    char path[] = "/tmp/molt-elf-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    close(fd);
    return path;
}

// A minimal ET_EXEC image: one PT_LOAD of `code` at paddr.
inline std::vector<uint8_t> make_elf(uint64_t paddr, const std::vector<uint8_t>& code, uint64_t memsz = 0) {
    constexpr size_t kHeaders = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
    std::vector<uint8_t> f(kHeaders + code.size());
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_entry = paddr;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_offset = kHeaders;
    ph.p_paddr = paddr;
    ph.p_filesz = code.size();
    ph.p_memsz = memsz ? memsz : code.size();
    std::memcpy(f.data(), &eh, sizeof(eh));
    std::memcpy(f.data() + sizeof(eh), &ph, sizeof(ph));
    if (!code.empty()) std::memcpy(f.data() + kHeaders, code.data(), code.size());
    return f;
}

struct Ram {
    size_t size = 2 << 20;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ~Ram() { munmap(p, size); }
    std::span<uint8_t> span() { return {static_cast<uint8_t*>(p), size}; }
};

}  // namespace molt::hw::test
