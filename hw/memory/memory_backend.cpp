// MemoryBackend; see memory_backend.h.
#include "hw/memory/memory_backend.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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
        std::string mode(to_string(early.params.mode()));
        if (!b->m_share) {
            return Error("Memory region " + opts.id + " is not compatible with CPR. share=on is "
                         "required for memory-backend objects, and aux-ram-share=on is required.");
        }
        return Error(what + ": mode " + mode + ": the memory is to be adopted from the previous "
                     "molt, and receiving CPR state is not supported yet");
    }

    if (opts.qom_type == api::ObjectType::MemoryBackendFile) {
        b->m_fd = MOLT_TRY(open_file(mem_path, b->m_size, readonly));
        b->m_origin = Origin::File;
    } else if (b->m_share || opts.qom_type == api::ObjectType::MemoryBackendMemfd) {
        Result<UniqueFd> fd = new_memfd(opts.id, b->m_size, hugetlb, seal);
        if (!fd) return Error(fd.error()).with_context(what);
        b->m_fd = std::move(*fd);
        b->m_origin = Origin::NewMemfd;
    }
    int prot = PROT_READ | (readonly ? 0 : PROT_WRITE);
    int flags = (b->m_share ? MAP_SHARED : MAP_PRIVATE) | (b->m_fd ? 0 : MAP_ANONYMOUS) |
                (b->m_prealloc ? MAP_POPULATE : 0) | MAP_NORESERVE;
    void* host = mmap(nullptr, b->m_size, prot, flags, b->m_fd.get(), 0);
    if (host == MAP_FAILED) {
        return Error::from_errno(errno, what + ": cannot map " + mib(b->m_size));
    }
    b->m_host = host;
    if (b->m_merge) madvise(host, b->m_size, MADV_MERGEABLE);
    if (!b->m_dump) madvise(host, b->m_size, MADV_DONTDUMP);
    if (!hugetlb) madvise(host, b->m_size, MADV_HUGEPAGE);
    return b;
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
           (m_share ? ", shared" : ", private");
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
