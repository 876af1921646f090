// TcgEngine; see tcg_engine.h.
#include "hw/accel/tcg/tcg_engine.h"

#include <unicorn/unicorn.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace molt::hw {

namespace {

// Far above any guest RAM (1 TiB): the mapping is gone before RAM comes.
constexpr uint64_t kScratchAddress = uint64_t{1} << 44;

}  // namespace

Result<TcgEngine> TcgEngine::warm() {
    uc_engine* uc = nullptr;
    uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    if (err != UC_ERR_OK) return Error(std::string("tcg: cannot start the Unicorn engine: ") + uc_strerror(err));
    TcgEngine engine(uc);
    alignas(4096) static uint8_t scratch[4096];
    err = uc_mem_map_ptr(uc, kScratchAddress, sizeof scratch, UC_PROT_READ, scratch);
    if (err == UC_ERR_OK) err = uc_mem_unmap(uc, kScratchAddress, sizeof scratch);
    if (err != UC_ERR_OK) return Error(std::string("tcg: cannot set up the Unicorn engine: ") + uc_strerror(err));
    return engine;
}

TcgEngine& TcgEngine::operator=(TcgEngine&& o) noexcept {
    if (this != &o) {
        if (m_uc) uc_close(m_uc);
        m_uc = std::exchange(o.m_uc, nullptr);
    }
    return *this;
}

TcgEngine::~TcgEngine() {
    if (m_uc) uc_close(m_uc);
}

uc_struct* TcgEngine::release() { return std::exchange(m_uc, nullptr); }

}  // namespace molt::hw
