// SelfAnnouncer; see self_announce.h.
#include "vmm/self_announce.h"

#include <algorithm>
#include <cstdio>

namespace molt::vmm {

Result<void> SelfAnnouncer::start(std::optional<std::string> name, AnnounceRounds rounds) {
    m_sequences.erase(name);
    if (rounds.rounds == 0) return ok();
    Sequence s{std::move(rounds), 0, nullptr};
    MOLT_TRY(send_round(s));
    if (s.sent == s.rounds.rounds) return ok();
    Result<std::unique_ptr<Timer>> timer = Timer::create(m_loop, [this, name] { next_round(name); });
    if (!timer) return timer.error();
    s.timer = std::move(*timer);
    uint64_t pause = std::min(s.rounds.initial_ms, s.rounds.max_ms);
    MOLT_TRY(s.timer->start(pause));
    m_sequences.emplace(std::move(name), std::move(s));
    return ok();
}

uint64_t SelfAnnouncer::rounds_left(const std::optional<std::string>& name) const {
    auto it = m_sequences.find(name);
    return it == m_sequences.end() ? 0 : it->second.rounds.rounds - it->second.sent;
}

Result<void> SelfAnnouncer::send_round(Sequence& s) {
    ++s.sent;
    if (!m_machine) return ok();
    return m_machine->announce_self(s.rounds.interfaces);
}

void SelfAnnouncer::next_round(std::optional<std::string> name) {
    auto it = m_sequences.find(name);
    if (it == m_sequences.end()) return;
    Sequence& s = it->second;
    Result<void> r = send_round(s);
    if (!r) std::fprintf(stderr, "molt: self-announcement: %s\n", r.error().message().c_str());
    // An ended sequence goes, its timer with it (a timer's callback may
    // destroy it): named ones would otherwise pile up, a timerfd each.
    if (s.sent >= s.rounds.rounds) {
        m_sequences.erase(it);
        return;
    }
    uint64_t pause = std::min(s.rounds.initial_ms + (s.sent - 1) * s.rounds.step_ms, s.rounds.max_ms);
    Result<void> armed = s.timer->start(pause);
    if (!armed) {
        std::fprintf(stderr, "molt: self-announcement: %s\n", armed.error().message().c_str());
        m_sequences.erase(it);
    }
}

}  // namespace molt::vmm
