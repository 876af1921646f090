// The VMM process's state: what QMP handlers act on (vmm/).
//
// One Vmm per process, owned by main(); QMP handlers reach it through
// qmp::Context (vmm/context.h).  Main thread only.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/machine.h"
#include "hw/memory/memory_backend.h"
#include "migration/dirty_rate.h"
#include "migration/parameters.h"
#include "runtime/command_table.h"
#include "runtime/event_loop.h"
#include "runtime/events.h"
#include "runtime/qmp/dispatch.h"
#include "runtime/timer.h"
#include "runtime/unique_fd.h"
#include "vmm/run_state.h"

namespace molt::vmm {

class MigrationControl;
class SelfAnnouncer;

inline constexpr std::string_view kVersion = "0.1.0";
// The QEMU version whose QMP interface molt follows (query-version).
inline constexpr int kQemuMajor = 10, kQemuMinor = 2, kQemuMicro = 0;

struct Vmm {
    Vmm(migration::ParameterStore p);
    ~Vmm();

    std::optional<std::string> name;
    migration::ParameterStore params;
    std::unique_ptr<RunStateMachine> run_state;
    // getfd / closefd.  QEMU keeps any number; here at most kMaxNamedFds
    // (a migration uses one or two), so a client cannot fill the fd table
    // molt needs for its own sockets, memfds and TAPs.
    static constexpr size_t kMaxNamedFds = 128;
    std::map<std::string, UniqueFd> named_fds;
    std::vector<std::unique_ptr<hw::MemoryBackend>> memory;
    std::unique_ptr<hw::Machine> machine;
    std::unique_ptr<VcpuControl> vcpu_control;
    // calc-dirty-rate: the meter, and the timer that ends a measurement
    // (declared after the machine, so it goes first).
    migration::DirtyRateMeter dirty_rate;
    std::unique_ptr<Timer> dirty_rate_timer;
    // After the machine: destroyed first (its threads use the machine).
    std::unique_ptr<MigrationControl> migration;
    std::unique_ptr<SelfAnnouncer> announcer;    // announce-self, and after incoming migration
    qmp::CommandTable commands;
    qmp::Dispatcher* dispatcher = nullptr;       // for the precreate phase
    EventSink* events = nullptr;
    EventLoop* loop = nullptr;                   // the main loop, for timers
    bool incoming_defer = false;
    bool quit = false;
};

}  // namespace molt::vmm
