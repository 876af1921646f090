// Incoming; see incoming.h.
#include "migration/engine/incoming.h"

#include <pthread.h>
#include <sys/socket.h>

#include "migration/engine/ram_transfer.h"
#include "migration/engine/tap_transfer.h"
#include "migration/engine/verdict.h"
#include "migration/stream/reader.h"
#include "runtime/fault_inject.h"

namespace molt::migration {

Incoming::Incoming(std::span<uint8_t> ram, UniqueFd fd, int listener, std::optional<SharedRamId> shared,
                   std::function<void()> wake)
    : m_ram(ram), m_fd(std::move(fd)), m_raw_fd(m_fd.get()), m_listener(listener), m_shared(shared),
      m_wake(std::move(wake)) {}

Incoming::~Incoming() {
    abort();
    if (m_thread.joinable()) m_thread.join();
}

uint64_t Incoming::bytes() const {
    IncomingLanes* lanes = m_lanes_seen.load(std::memory_order_acquire);
    return m_bytes.load(std::memory_order_relaxed) + (lanes ? lanes->bytes() : 0);
}

void Incoming::start() {
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "mig/dst/main");
        run();
    });
}

void Incoming::abort() {
    if (finished()) return;
    shutdown(m_raw_fd, SHUT_RDWR);
    if (IncomingLanes* lanes = m_lanes_seen.load(std::memory_order_acquire)) lanes->abort();
}

std::optional<Error> Incoming::error() const {
    std::lock_guard guard(m_lock);
    return m_error;
}

std::vector<stream::SectionRecord> Incoming::take_sections() {
    std::lock_guard guard(m_lock);
    return std::move(m_sections);
}

std::vector<ReceivedTap> Incoming::take_taps() {
    std::lock_guard guard(m_lock);
    return std::move(m_taps);
}

void Incoming::run() {
    Result<void> r = receive();
    if (m_lanes) {
        // Every RAM channel ends before the guest may run; a failed main
        // channel ends them.
        if (!r) m_lanes->abort();
        Result<void> lanes = m_lanes->join();
        if (r && !lanes) r = lanes.error();
    }
    m_prefault.reset();
    {
        std::lock_guard guard(m_lock);
        if (!r) m_error = r.error();
    }
    m_finished.store(true, std::memory_order_release);
    m_wake();
}

Result<void> Incoming::receive() {
    stream::StreamReader reader(std::move(m_fd), {m_ram.size(), stream::kHostArch});
    Result<void> r = receive_from(reader);
    m_fd = reader.release_fd();   // for the verdict; closed with this object
    return r;
}

Result<void> Incoming::send_verdict(const std::optional<std::string>& error) {
    if (!m_fd) return Error("migration: the channel to the source is gone");
    return migration::send_verdict(m_fd.get(), error);
}

Result<void> Incoming::receive_from(stream::StreamReader& reader) {
    MOLT_TRY(reader.read_header());
    MOLT_TRY(fault::check("dst-header"));
    UntouchedPages untouched(m_ram);
    // With a single CPU the prefault thread would only take time from
    // the receiver (the nested KVM lane's guest: migrations there slowed
    // until they no longer converged).
    if (std::thread::hardware_concurrency() > 1) m_prefault = std::make_unique<Prefaulter>(m_ram);
    while (true) {
        stream::Record rec = MOLT_TRY(reader.next());
        m_bytes.store(reader.offset(), std::memory_order_relaxed);
        if (auto* ram = std::get_if<stream::RamRecord>(&rec)) {
            MOLT_TRY(fault::check("dst-ram"));
            MOLT_TRY(receive_ram(reader, *ram, m_ram, &untouched, m_prefault.get()));
        } else if (auto* section = std::get_if<stream::SectionRecord>(&rec)) {
            MOLT_TRY(fault::check("dst-section"));
            if (section->info.id == kMultifdSection) {
                MOLT_TRY(start_lanes(*section));
                continue;
            }
            if (section->info.id == kReturnPathSection) {
                m_return_path = true;
                continue;
            }
            if (is_tap_section(*section)) {
                ReceivedTap tap = MOLT_TRY(receive_tap(*section, reader));
                std::lock_guard guard(m_lock);
                m_taps.push_back(std::move(tap));
                continue;
            }
            if (section->info.id == kSharedRamSection) {
                SharedRamId source = MOLT_TRY(decode_shared_ram(section->payload));
                MOLT_TRY(check_shared_ram(source, m_shared));
                continue;
            }
            m_section_bytes += section->payload.size();
            if (m_sections.size() == kMaxDeviceSections || m_section_bytes > kMaxDeviceStateBytes) {
                return Error("migration stream: more than " + std::to_string(kMaxDeviceSections) +
                             " device sections or " + std::to_string(kMaxDeviceStateBytes >> 20) +
                             " MiB of device state (section '" + section->info.id + "')");
            }
            std::lock_guard guard(m_lock);
            m_sections.push_back(std::move(*section));
        } else if (std::holds_alternative<stream::EndOfStream>(rec)) {
            return ok();
        }
    }
}

Result<void> Incoming::start_lanes(const stream::SectionRecord& section) {
    if (m_lanes) return Error("multifd: a second " + std::string(kMultifdSection) + " section");
    MultifdHello hello = MOLT_TRY(decode_hello(section.payload));
    // A RAM channel that fails ends the main channel's read too.
    m_lanes = std::make_unique<IncomingLanes>(m_ram, m_prefault.get(),
                                              [this] { shutdown(m_raw_fd, SHUT_RDWR); });
    m_lanes_seen.store(m_lanes.get(), std::memory_order_release);
    return m_lanes->start(m_listener, hello, kLaneAcceptMs, m_raw_fd);
}

}  // namespace molt::migration
