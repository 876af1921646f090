// Incoming; see incoming.h.
#include "migration/engine/incoming.h"

#include <pthread.h>
#include <sys/socket.h>

#include "migration/engine/ram_transfer.h"
#include "migration/stream/reader.h"

namespace molt::migration {

Incoming::Incoming(std::span<uint8_t> ram, UniqueFd fd, std::function<void()> wake)
    : m_ram(ram), m_fd(std::move(fd)), m_raw_fd(m_fd.get()), m_wake(std::move(wake)) {}

Incoming::~Incoming() {
    abort();
    if (m_thread.joinable()) m_thread.join();
}

void Incoming::start() {
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "mig/dst/main");
        run();
    });
}

void Incoming::abort() {
    if (!finished()) shutdown(m_raw_fd, SHUT_RDWR);
}

std::optional<Error> Incoming::error() const {
    std::lock_guard guard(m_lock);
    return m_error;
}

std::vector<stream::SectionRecord> Incoming::take_sections() {
    std::lock_guard guard(m_lock);
    return std::move(m_sections);
}

void Incoming::run() {
    Result<void> r = receive();
    {
        std::lock_guard guard(m_lock);
        if (!r) m_error = r.error();
    }
    m_finished.store(true, std::memory_order_release);
    m_wake();
}

Result<void> Incoming::receive() {
    stream::StreamReader reader(std::move(m_fd), {m_ram.size(), stream::kHostArch});
    MOLT_TRY(reader.read_header());
    UntouchedPages untouched(m_ram);
    while (true) {
        stream::Record rec = MOLT_TRY(reader.next());
        m_bytes.store(reader.offset(), std::memory_order_relaxed);
        if (auto* ram = std::get_if<stream::RamRecord>(&rec)) {
            MOLT_TRY(receive_ram(reader, *ram, m_ram, &untouched));
        } else if (auto* section = std::get_if<stream::SectionRecord>(&rec)) {
            std::lock_guard guard(m_lock);
            m_sections.push_back(std::move(*section));
        } else if (std::holds_alternative<stream::EndOfStream>(rec)) {
            return ok();
        }
    }
}

}  // namespace molt::migration
