// Unit tests of hw/memory/memory_backend: what prealloc and the
// transparent huge page request really do to the mapping, read back from
// the kernel (/proc/self/smaps for this process, mincore()), for each
// backend kind.  Expectations that depend on the host's THP settings
// (/sys/kernel/mm/transparent_hugepage) or its free hugetlb pages read
// them and check the branch this host is in.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "hw/memory/memory_backend.h"
#include "migration/early.h"

using namespace molt;
using namespace molt::hw;

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kSize = 64 * kMiB;

// The /proc/self/smaps entry of the mapping that starts at addr.
struct Vma {
    bool found = false;
    std::map<std::string, std::string> fields;
    uint64_t kib(const std::string& key) const {
        auto it = fields.find(key);
        return it == fields.end() ? 0 : std::stoull(it->second);
    }
    bool flag(const std::string& f) const {
        auto it = fields.find("VmFlags");
        if (it == fields.end()) return false;
        std::istringstream in(it->second);
        std::string w;
        while (in >> w) {
            if (w == f) return true;
        }
        return false;
    }
};

Vma vma_at(const void* addr) {
    Vma v;
    std::ifstream f("/proc/self/smaps");
    std::string line;
    bool in = false;
    while (std::getline(f, line)) {
        unsigned long start = 0, end = 0;
        size_t colon = line.find(':'), space = line.find(' ');
        if (colon > space && std::sscanf(line.c_str(), "%lx-%lx", &start, &end) == 2) {
            if (in) break;
            in = start == reinterpret_cast<uintptr_t>(addr);
            v.found = v.found || in;
        } else if (in && colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            v.fields[line.substr(0, colon)] = value;
        }
    }
    return v;
}

uint64_t resident_pages(std::span<uint8_t> m) {
    std::vector<unsigned char> vec(m.size() / 4096);
    REQUIRE(mincore(m.data(), m.size(), vec.data()) == 0);
    uint64_t n = 0;
    for (unsigned char c : vec) n += c & 1;
    return n;
}

std::string bracketed(const std::string& path) {
    std::ifstream f(path);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t a = text.find('['), b = text.find(']');
    return a == std::string::npos || b == std::string::npos ? "" : text.substr(a + 1, b - a - 1);
}

uint64_t meminfo(const std::string& key) {
    std::ifstream f("/proc/meminfo");
    std::string k;
    uint64_t v = 0;
    while (f >> k >> v) {
        if (k == key + ":") return v;
        f.ignore(256, '\n');
    }
    return 0;
}

struct Spec {
    const char* name;
    api::ObjectType type;
    bool share;
    std::string path;   // memory-backend-file: a directory
};

api::ObjectOptions options(const Spec& s, uint64_t size, bool prealloc, bool hugetlb = false) {
    api::ObjectOptions o;
    o.qom_type = s.type;
    // (Not from a literal: GCC 12 warns falsely, -Wrestrict, PR 105651.)
    static const std::string kId(1, 't');
    o.id = kId;
    api::MemoryBackendProperties* p = nullptr;
    switch (s.type) {
    case api::ObjectType::MemoryBackendRam: p = &o.u.memory_backend_ram.emplace(); break;
    case api::ObjectType::MemoryBackendMemfd: {
        api::MemoryBackendMemfdProperties& m = o.u.memory_backend_memfd.emplace();
        m.hugetlb = hugetlb;
        p = &m;
        break;
    }
    case api::ObjectType::MemoryBackendFile: {
        api::MemoryBackendFileProperties& f = o.u.memory_backend_file.emplace();
        f.mem_path = s.path;
        p = &f;
        break;
    }
    }
    p->size = size;
    p->prealloc = prealloc;
    p->share = s.share;
    return o;
}

Result<std::unique_ptr<MemoryBackend>> create(const api::ObjectOptions& o) {
    static migration::ParameterStore params = *migration::ParameterStore::create({}, {}, nullptr);
    return MemoryBackend::create(o, migration::EarlyMigration{params, false});
}

std::vector<Spec> specs() {
    std::vector<Spec> v = {
        {"ram", api::ObjectType::MemoryBackendRam, false, ""},
        {"ram,share=on", api::ObjectType::MemoryBackendRam, true, ""},
        {"memfd", api::ObjectType::MemoryBackendMemfd, true, ""},
        {"file in /tmp", api::ObjectType::MemoryBackendFile, false, "/tmp"},
        {"file in /tmp,share=on", api::ObjectType::MemoryBackendFile, true, "/tmp"},
    };
    struct stat st {};
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) {
        v.push_back({"file in /dev/shm,share=on", api::ObjectType::MemoryBackendFile, true, "/dev/shm"});
    }
    return v;
}

// Whether the kernel gives shmem (memfds) PMD-sized THP for a mapping
// that asks with MADV_HUGEPAGE: the 2 MiB per-size setting (Linux 6.11+)
// unless it says "inherit", else the global shmem_enabled.
bool shmem_thp_on_madvise() {
    std::string s = bracketed("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled");
    if (s.empty() || s == "inherit") s = bracketed("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
    return s == "always" || s == "within_size" || s == "advise" || s == "force";
}

}  // namespace

TEST_CASE("memory backends: prealloc=on populates every page, prealloc=off none") {
    for (const Spec& s : specs()) {
        CAPTURE(s.name);
        for (bool prealloc : {false, true}) {
            CAPTURE(prealloc);
            auto b = create(options(s, kSize, prealloc));
            REQUIRE(b);
            std::span<uint8_t> m = (*b)->host_view();
            Vma v = vma_at(m.data());
            REQUIRE(v.found);
            CHECK(v.kib("Size") == kSize / 1024);
            if (prealloc) {
                CHECK(v.kib("Rss") == kSize / 1024);
                CHECK(resident_pages(m) == kSize / 4096);
                CHECK((*b)->describe().find(", preallocated") != std::string::npos);
            } else {
                CHECK(v.kib("Rss") == 0);
                CHECK(resident_pages(m) == 0);
                CHECK((*b)->describe().find("preallocated") == std::string::npos);
            }
            CHECK((*b)->info().prealloc == prealloc);
        }
    }
}

TEST_CASE("memory backends: guest RAM is 2 MiB-aligned and asks for transparent huge pages") {
    for (const Spec& s : specs()) {
        CAPTURE(s.name);
        auto b = create(options(s, kSize + 4096, false));   // an odd size too
        REQUIRE(b);
        CHECK(reinterpret_cast<uintptr_t>((*b)->host_view().data()) % (2 * kMiB) == 0);
        Vma v = vma_at((*b)->host_view().data());
        REQUIRE(v.found);
        CHECK(v.kib("Size") == (kSize + 4096) / 1024);   // no leftover of the alignment
        CHECK(v.flag("hg"));   // MADV_HUGEPAGE taken
        CHECK_FALSE(v.flag("ht"));
    }
}

TEST_CASE("memory backends: preallocated anonymous RAM is backed by huge pages where THP is on") {
    std::string enabled = bracketed("/sys/kernel/mm/transparent_hugepage/enabled");
    auto b = create(options(specs()[0], kSize, true));
    REQUIRE(b);
    Vma v = vma_at((*b)->host_view().data());
    REQUIRE(v.found);
    if (enabled == "always" || enabled == "madvise") {
        // Populating before MADV_HUGEPAGE (MAP_POPULATE) left 0 here.
        CHECK(v.kib("AnonHugePages") >= kSize / 1024 / 2);
        CHECK((*b)->huge_pages() == "transparent huge pages");
    } else {
        CHECK(v.kib("AnonHugePages") == 0);
        CHECK((*b)->huge_pages() == "no transparent huge pages (transparent_hugepage/enabled is " +
                                        enabled + ")");
    }
}

TEST_CASE("memory backends: memfd RAM gets huge pages only as shmem_enabled allows, and says so") {
    auto b = create(options(specs()[2], kSize, true));
    REQUIRE(b);
    Vma v = vma_at((*b)->host_view().data());
    REQUIRE(v.found);
    if (shmem_thp_on_madvise()) {
        CHECK(v.kib("ShmemPmdMapped") > 0);
        CHECK((*b)->huge_pages() == "transparent huge pages");
    } else {
        CHECK(v.kib("ShmemPmdMapped") == 0);
        CHECK(v.fields["THPeligible"] == "0");
        std::string setting = bracketed("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
        CHECK((*b)->huge_pages() ==
              "no transparent huge pages (transparent_hugepage/shmem_enabled is " + setting + ")");
        CHECK((*b)->describe() == "memory-backend-memfd 't': new memfd, 64 MiB, shared, preallocated, "
                                  "no transparent huge pages (transparent_hugepage/shmem_enabled is " +
                                      setting + ")");
    }
}

TEST_CASE("memory backends: hugetlb memory that is not there fails at creation, not as a SIGBUS") {
    uint64_t page_kib = meminfo("Hugepagesize");
    uint64_t free_pages = meminfo("HugePages_Free");
    REQUIRE(page_kib > 0);
    // One page more than the host has free: it cannot be reserved.
    uint64_t size = (free_pages + 1) * page_kib * 1024;
    Spec memfd = specs()[2];
    for (bool prealloc : {false, true}) {
        auto b = create(options(memfd, size, prealloc, true));
        REQUIRE_FALSE(b);
        std::string e = b.error().message();
        CHECK(e.find("memory-backend-memfd 't': ") == 0);
        bool no_hugetlbfs = e.find("memfd_create") != std::string::npos;
        CHECK((no_hugetlbfs || e.find("Cannot allocate memory") != std::string::npos));
    }
    if (free_pages == 0) return;
    // With free pages: a preallocated hugetlb backend holds them.
    auto b = create(options(memfd, page_kib * 1024, true, true));
    REQUIRE(b);
    Vma v = vma_at((*b)->host_view().data());
    CHECK(v.flag("ht"));
    CHECK(meminfo("HugePages_Free") == free_pages - 1);
    CHECK((*b)->huge_pages() == "hugetlb pages");
}
