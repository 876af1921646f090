// Self-announcement in the VMM (vmm/): sequences of rounds, each round one
// RARP frame from every listed virtio-net device (hw::Machine::
// announce_self), spaced by main-loop timers as QEMU spaces them: the
// first round at once, then pauses of initial, initial + step, ...,
// never more than max.  Sequences are named: QMP announce-self's by its
// id (another announce-self with that id restarts it), and one of the
// migration's own, which the end of an incoming migration starts with the
// announce-* migration parameters.  A round that fails to send is reported
// on stderr and the sequence goes on (the frames are a courtesy to the
// network: nothing depends on them).  Main thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/machine.h"
#include "runtime/event_loop.h"
#include "runtime/result.h"
#include "runtime/timer.h"

namespace molt::vmm {

struct AnnounceRounds {
    uint64_t initial_ms = 50;
    uint64_t max_ms = 550;
    uint64_t rounds = 5;
    uint64_t step_ms = 100;
    std::vector<std::string> interfaces;   // device ids; empty: all
};

class SelfAnnouncer {
public:
    // machine: the machine to announce from (it may come and go; null:
    // nothing is sent).
    SelfAnnouncer(EventLoop& loop, std::unique_ptr<hw::Machine>& machine)
        : m_loop(loop), m_machine(machine) {}

    // Starts sequence `name` (nullopt: the migration's), replacing one of
    // that name.  The first round's Error (nothing was sent) is returned
    // and the sequence does not go on.
    Result<void> start(std::optional<std::string> name, AnnounceRounds rounds);
    // Rounds still to send in sequence `name` (0 when it has ended).
    uint64_t rounds_left(const std::optional<std::string>& name) const;

private:
    struct Sequence {
        AnnounceRounds rounds;
        uint64_t sent = 0;
        std::unique_ptr<Timer> timer;
    };
    Result<void> send_round(Sequence& s);
    // By value: the sequence, whose timer's callback holds the name, may go.
    void next_round(std::optional<std::string> name);

    EventLoop& m_loop;
    std::unique_ptr<hw::Machine>& m_machine;
    std::map<std::optional<std::string>, Sequence> m_sequences;
};

}  // namespace molt::vmm
