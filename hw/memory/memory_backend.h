// Guest RAM backends: -object memory-backend-{ram,memfd,file} (hw/memory).
//
// A backend owns one host mapping of guest RAM and, when the memory is
// shared, the fd behind it (a memfd or a file), which is what CPR hands
// to the next molt.  It is created from the generated ObjectOptions and
// the early migration parameters: on a cpr-transfer or cpr-exec
// destination a shared backend adopts the fd the previous process handed
// over (EarlyMigration::cpr) instead of allocating new memory - the
// guest's RAM, contents and all.
// Main thread; the mapping lives as long as the backend.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "migration/early.h"
#include "qapi-types-machine.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::hw {

class MemoryBackend {
public:
    // What creation did, for the -d backends log and for tests.
    enum class Origin { Anonymous, NewMemfd, File, AdoptedMemfd };

    static Result<std::unique_ptr<MemoryBackend>> create(const api::ObjectOptions& opts,
                                                         const migration::EarlyMigration& early);
    ~MemoryBackend();
    MemoryBackend(const MemoryBackend&) = delete;
    MemoryBackend& operator=(const MemoryBackend&) = delete;

    const std::string& id() const { return m_id; }
    // The name its fd goes under in the CPR state.
    static std::string cpr_fd_name(const std::string& id) { return "memory-backend/" + id; }
    uint64_t size_bytes() const { return m_size; }
    bool shared() const { return m_share; }
    int fd() const { return m_fd.get(); }   // -1 for private anonymous memory
    Origin origin() const { return m_origin; }
    // The host mapping, for GuestMemory and the accelerators that map it
    // into the guest; nobody else keeps pointers into it.
    std::span<uint8_t> host_view() const {
        return {static_cast<uint8_t*>(m_host), static_cast<size_t>(m_size)};
    }
    // What backs the memory: "transparent huge pages", "hugetlb pages",
    // or "no transparent huge pages (REASON)", the kernel's verdict on the
    // mapping (THPeligible in /proc/self/smaps) with the host setting that
    // explains a no.  Every backend but hugetlb asks for THP
    // (MADV_HUGEPAGE); the kernel decides per mapping kind: the
    // transparent_hugepage/enabled setting for anonymous memory,
    // shmem_enabled for memfds, the file system for files.
    std::string huge_pages() const;
    // One line: "memory-backend-memfd 'ram0': new memfd, 64 MiB, shared,
    // preallocated, no transparent huge pages (...)" (-d backends).
    std::string describe() const;
    api::Memdev info() const;

private:
    MemoryBackend() = default;
    // Maps the memory (2 MiB-aligned unless hugetlb), applies the madvise
    // settings, then preallocates if asked.
    Result<void> map(bool hugetlb, bool readonly);

    std::string m_id;
    api::ObjectType m_type{};
    uint64_t m_size = 0;
    bool m_share = false, m_prealloc = false, m_merge = true, m_dump = true, m_hugetlb = false;
    int m_thp_advice_errno = 0;   // of madvise(MADV_HUGEPAGE); 0: accepted
    Origin m_origin = Origin::Anonymous;
    UniqueFd m_fd;
    void* m_host = nullptr;
};

}  // namespace molt::hw
