// MemoryBackend; see memory_backend.h.
#include "hw/memory/memory_backend.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "runtime/fault_inject.h"

namespace molt::hw {

namespace {

std::string mib(uint64_t bytes) {
    if (bytes % (uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

Result<UniqueFd> new_memfd(const std::string& id, uint64_t size, bool hugetlb, bool seal) {
    unsigned flags = MFD_CLOEXEC | (hugetlb ? MFD_HUGETLB : 0u) | (seal ? MFD_ALLOW_SEALING : 0u);
    UniqueFd fd(memfd_create(("molt:" + id).c_str(), flags));
    if (!fd) return Error::from_errno(errno, "memfd_create");
    if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        return Error::from_errno(errno, "cannot allocate " + mib(size));
    }
    if (seal && fcntl(fd.get(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        return Error::from_errno(errno, "cannot seal the memfd");
    }
    return fd;
}

Result<UniqueFd> open_file(const std::string& path, uint64_t size, bool readonly) {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        UniqueFd fd(open(path.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
        if (!fd) return Error::from_errno(errno, "can't create a file in '" + path + "'");
        if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
            return Error::from_errno(errno, "can't resize '" + path + "'");
        }
        return fd;
    }
    UniqueFd fd(open(path.c_str(), (readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno(errno, "can't open backing store " + path + " for guest RAM");
    if (fstat(fd.get(), &st) != 0) return Error::from_errno(errno, "stat " + path);
    if (static_cast<uint64_t>(st.st_size) < size) {
        if (readonly) return Error("backing store " + path + " is smaller than 'size'");
        if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
            return Error::from_errno(errno, "can't resize " + path);
        }
    }
    return fd;
}

// Guest RAM starts 2 MiB-aligned in the host, so that transparent huge
// pages can back it from guest-physical 0 on and KVM can map them as large
// pages (it needs guest and host addresses to agree modulo 2 MiB), whatever
// the kernel's own placement does (Linux 6.1 does not align anonymous
// mappings).  A PROT_NONE reservation is cut down to the aligned range.
constexpr uint64_t kHugeAlign = uint64_t{2} << 20;

void* map_aligned(uint64_t size, int prot, int flags, int fd) {
    uint64_t len = (size + 4095) / 4096 * 4096;
    void* area = mmap(nullptr, len + kHugeAlign, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (area == MAP_FAILED) return MAP_FAILED;
    // SAFETY: address arithmetic on the reservation just made.
    auto base = reinterpret_cast<uintptr_t>(area);
    uintptr_t start = (base + kHugeAlign - 1) & ~(kHugeAlign - 1);
    void* host = mmap(reinterpret_cast<void*>(start), len, prot, flags | MAP_FIXED, fd, 0);
    if (host == MAP_FAILED) {
        int e = errno;
        munmap(area, len + kHugeAlign);
        errno = e;
        return MAP_FAILED;
    }
    if (start > base) munmap(area, start - base);
    uintptr_t end = start + len, area_end = base + len + kHugeAlign;
    if (area_end > end) munmap(reinterpret_cast<void*>(end), area_end - end);
    return host;
}

// prealloc=on: every page allocated now, after MADV_HUGEPAGE (so that huge
// pages back it) and with an error when the memory is not there, instead
// of the SIGBUS a guest access would get later.
Result<void> populate(void* host, uint64_t size, bool readonly) {
    if (madvise(host, size, readonly ? MADV_POPULATE_READ : MADV_POPULATE_WRITE) == 0) return ok();
    if (errno != EINVAL) return Error::from_errno(errno, "preallocating " + mib(size) + " failed");
    // Before Linux 5.14 there is no MADV_POPULATE_*: touch every page
    // (writing back what it holds: file contents stay as they are).
    auto* p = static_cast<volatile uint8_t*>(host);
    for (uint64_t off = 0; off < size; off += 4096) {
        uint8_t v = p[off];
        if (!readonly) p[off] = v;
    }
    return ok();
}

// The bracketed choice in a /sys/kernel/mm/transparent_hugepage file
// ("always [madvise] never" -> "madvise"), or "" if there is none.
std::string thp_setting(const std::string& name) {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/" + name);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t a = text.find('['), b = text.find(']');
    return a != std::string::npos && b != std::string::npos && b > a ? text.substr(a + 1, b - a - 1) : "";
}

// The kernel's verdict on the mapping at addr: the THPeligible line of
// its /proc/self/smaps entry (nullopt if it cannot be read).
std::optional<bool> thp_eligible(const void* addr) {
    std::ifstream f("/proc/self/smaps");
    std::string line;
    // SAFETY: the address is only compared, never dereferenced.
    auto want = reinterpret_cast<uintptr_t>(addr);
    bool in_vma = false;
    while (std::getline(f, line)) {
        unsigned long start = 0, end = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 && line.find(':') > line.find(' ')) {
            in_vma = start == want;
        } else if (in_vma && line.rfind("THPeligible:", 0) == 0) {
            return line.find('1') != std::string::npos;
        }
    }
    return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<MemoryBackend>> MemoryBackend::create(
    const api::ObjectOptions& opts, const migration::EarlyMigration& early) {
    std::unique_ptr<MemoryBackend> b(new MemoryBackend());
    b->m_id = opts.id;
    b->m_type = opts.qom_type;
    const api::MemoryBackendProperties* common = nullptr;
    bool hugetlb = false, seal = true, readonly = false;
    std::string mem_path;
    switch (opts.qom_type) {
    case api::ObjectType::MemoryBackendRam:
        common = &*opts.u.memory_backend_ram;
        break;
    case api::ObjectType::MemoryBackendMemfd:
        common = &*opts.u.memory_backend_memfd;
        hugetlb = opts.u.memory_backend_memfd->hugetlb.value_or(false);
        seal = opts.u.memory_backend_memfd->seal.value_or(true);
        break;
    case api::ObjectType::MemoryBackendFile:
        common = &*opts.u.memory_backend_file;
        mem_path = opts.u.memory_backend_file->mem_path;
        readonly = opts.u.memory_backend_file->readonly.value_or(false);
        break;
    }
    std::string what = std::string(to_string(opts.qom_type)) + " '" + opts.id + "'";
    b->m_size = common->size;
    b->m_share = common->share.value_or(opts.qom_type == api::ObjectType::MemoryBackendMemfd);
    b->m_prealloc = common->prealloc.value_or(false);
    b->m_merge = common->merge.value_or(true);
    b->m_dump = common->dump.value_or(true);

    if (early.adopts_memory()) {
        if (!b->m_share) {
            return Error("Memory region " + opts.id + " is not compatible with CPR. share=on is "
                         "required for memory-backend objects, and aux-ram-share=on is required.");
        }
        // The previous molt's memory, guest RAM and all, mapped again.
        if (!early.cpr) return Error(what + ": no CPR state arrived from the previous molt");
        MOLT_TRY(fault::check("cpr-adopt-ram"));
        Result<UniqueFd> fd = early.cpr->take(cpr_fd_name(opts.id), 0);
        if (!fd) return Error(fd.error()).with_context(what);
        struct stat st {};
        if (fstat(fd->get(), &st) != 0) return Error::from_errno(errno, what + ": the adopted memory");
        if (static_cast<uint64_t>(st.st_size) < b->m_size) {
            return Error(what + ": the previous molt's memory has " + mib(static_cast<uint64_t>(st.st_size)) +
                         ", less than " + mib(b->m_size) + " (the machine options must be the same)");
        }
        b->m_fd = std::move(*fd);
        b->m_origin = Origin::AdoptedMemfd;
    } else if (opts.qom_type == api::ObjectType::MemoryBackendFile) {
        b->m_fd = MOLT_TRY(open_file(mem_path, b->m_size, readonly));
        b->m_origin = Origin::File;
    } else if (b->m_share || opts.qom_type == api::ObjectType::MemoryBackendMemfd) {
        Result<UniqueFd> fd = new_memfd(opts.id, b->m_size, hugetlb, seal);
        if (!fd) return Error(fd.error()).with_context(what);
        b->m_fd = std::move(*fd);
        b->m_origin = Origin::NewMemfd;
    }
    Result<void> r = b->map(hugetlb, readonly);
    if (!r) return Error(r.error()).with_context(what);
    return b;
}

Result<void> MemoryBackend::map(bool hugetlb, bool readonly) {
    int prot = PROT_READ | (readonly ? 0 : PROT_WRITE);
    // No MAP_NORESERVE (QEMU's reserve=on): hugetlb pages are reserved
    // now, so that a shortage fails here and not as a SIGBUS later.
    int flags = (m_share ? MAP_SHARED : MAP_PRIVATE) | (m_fd ? 0 : MAP_ANONYMOUS);
    // hugetlb mappings are aligned to the huge page size by the kernel.
    void* host = hugetlb ? mmap(nullptr, m_size, prot, flags, m_fd.get(), 0)
                         : map_aligned(m_size, prot, flags, m_fd.get());
    if (host == MAP_FAILED) return Error::from_errno(errno, "cannot map " + mib(m_size));
    m_host = host;
    m_hugetlb = hugetlb;
    if (m_merge) madvise(host, m_size, MADV_MERGEABLE);
    if (!m_dump) madvise(host, m_size, MADV_DONTDUMP);
    if (!hugetlb) m_thp_advice_errno = madvise(host, m_size, MADV_HUGEPAGE) == 0 ? 0 : errno;
    if (m_prealloc) MOLT_TRY(populate(host, m_size, readonly));
    return ok();
}

std::string MemoryBackend::huge_pages() const {
    if (m_hugetlb) return "hugetlb pages";
    if (m_thp_advice_errno != 0) {
        return std::string("no transparent huge pages (madvise: ") + std::strerror(m_thp_advice_errno) + ")";
    }
    std::optional<bool> eligible = thp_eligible(m_host);
    if (eligible.value_or(false)) return "transparent huge pages";
    std::string why;
    if (m_origin == Origin::Anonymous) {
        why = "transparent_hugepage/enabled is " + thp_setting("enabled");
    } else if (m_origin == Origin::NewMemfd || m_origin == Origin::AdoptedMemfd) {
        why = "transparent_hugepage/shmem_enabled is " + thp_setting("shmem_enabled");
    } else {
        why = "not offered for this file's mapping";
    }
    return "no transparent huge pages (" + why + ")";
}

MemoryBackend::~MemoryBackend() {
    if (m_host) munmap(m_host, m_size);
}

std::string MemoryBackend::describe() const {
    std::string origin;
    switch (m_origin) {
    case Origin::Anonymous: origin = "anonymous memory"; break;
    case Origin::NewMemfd: origin = "new memfd"; break;
    case Origin::File: origin = "file"; break;
    case Origin::AdoptedMemfd: origin = "adopted memfd"; break;
    }
    return std::string(to_string(m_type)) + " '" + m_id + "': " + origin + ", " + mib(m_size) +
           (m_share ? ", shared" : ", private") + (m_prealloc ? ", preallocated" : "") + ", " +
           huge_pages();
}

api::Memdev MemoryBackend::info() const {
    api::Memdev m{};
    m.id = m_id;
    m.size = m_size;
    m.merge = m_merge;
    m.dump = m_dump;
    m.prealloc = m_prealloc;
    m.share = m_share;
    m.policy = "default";
    return m;
}

}  // namespace molt::hw
