// CPR in the VMM (vmm/): the two ends of the file descriptor hand-over of
// a live update (cpr-transfer, cpr-exec; migration/cpr_state.h).
//
// The new process, before it creates any backend: with mode cpr-transfer
// it listens on the cpr channel given with -incoming, takes one
// connection and reads the CPR state from it, keeping the connection
// open until its main channel listens (closing it tells the old process
// to connect); with cpr-exec it reads the state the old process left in
// the environment.  The old process gathers what it hands over: every
// guest RAM fd (shared memory only; CPR cannot hand over private memory)
// and, with backend-transfer=[virtio-net-tap], every TAP fd - the same
// interface, with the frames the kernel queued while the guest paused.
#pragma once

#include "cli/command_line.h"
#include "migration/cpr_state.h"
#include "migration/parameters.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::vmm {

struct Vmm;

struct CprIncoming {
    migration::CprState state;
    UniqueFd channel;   // cpr-transfer: to close once the main channel listens
};

// How long the new process waits for the old one's state once connected.
inline constexpr int kCprStateTimeoutMs = 30000;

// The new process's CPR state (empty unless it is an incoming cpr-transfer
// or cpr-exec).  signal_fd: a readable signalfd ends the wait for the
// cpr connection (molt was told to quit).
Result<CprIncoming> receive_cpr_state(const cli::CommandLine& cl, const migration::ParameterStore& params,
                                      int signal_fd);

// The old process: dups of every guest RAM fd, by backend, and with
// backend-transfer of every virtio-net device's TAP; an Error (the QEMU
// text) for a backend that is not shared memory.
Result<migration::CprState> gather_cpr_fds(const Vmm& vmm);

}  // namespace molt::vmm
