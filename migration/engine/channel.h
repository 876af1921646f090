// Migration channels (migration/engine): turning a MigrationAddress into
// a file descriptor that carries the stream.
//
//   socket unix/inet  outgoing: a blocking connect; incoming: a listener
//                     the main loop accepts one connection from
//   socket fd         a descriptor named with getfd (QMP) - taken over
//   file              outgoing: created/truncated at the offset; incoming:
//                     read from the offset
//   exec              argv run without a shell (a "exec:CMD" URI is
//                     /bin/sh -c CMD, as QEMU); its stdin (outgoing) or
//                     stdout (incoming) is the stream
// Descriptors are close-on-exec; an exec child is reaped by ChildProcess.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "qapi-types-migration.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

// The VMM's getfd table: takes the named descriptor out of it.
using TakeNamedFd = std::function<Result<UniqueFd>(const std::string& name)>;

// A spawned exec: channel child, waited for (and killed if still running)
// when this goes.
class ChildProcess {
public:
    ChildProcess() = default;
    explicit ChildProcess(pid_t pid) : m_pid(pid) {}
    ChildProcess(ChildProcess&& o) noexcept : m_pid(o.m_pid) { o.m_pid = -1; }
    ChildProcess& operator=(ChildProcess&& o) noexcept;
    ~ChildProcess() { reap(true); }
    // Waits for the child; its exit status (0: success).
    int reap(bool kill_first = false);

private:
    pid_t m_pid = -1;
};

struct Channel {
    UniqueFd fd;             // the stream (or, incoming sockets: the listener)
    bool listening = false;  // fd is a listener: accept one connection
    ChildProcess child;      // exec: only
    std::string description; // for messages: "unix:/tmp/m.sock", ...
};

Result<Channel> open_outgoing(const api::MigrationAddress& addr, const TakeNamedFd& named);
Result<Channel> open_incoming(const api::MigrationAddress& addr, const TakeNamedFd& named);

// The address as a URI, for messages.
std::string describe(const api::MigrationAddress& addr);

}  // namespace molt::migration
