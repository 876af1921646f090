// The old address space taken down beside the new program (cpr-exec).
//
// execvp() drops the old program's memory map before the new program
// starts.  For a guest whose RAM the old program had touched, that means
// clearing a page-table entry per touched page - ~20 ms per GiB on this VM
// - inside the guest's pause.  A helper cloned with CLONE_VM holds a
// reference to the map, so the exec only detaches from it: the helper
// waits for the exec (the write end of its pipe is close-on-exec), then
// exits, and the map is taken down in its exit, beside the new program's
// start-up.  Its pid goes to the new program in the CPR state, which reaps
// it (reap_exec_helper).
#pragma once

#include <sys/types.h>

#include "runtime/event_loop.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::vmm {

class ExecHelper {
public:
    // Just before execvp.
    static Result<ExecHelper> start();
    ExecHelper(ExecHelper&& o) noexcept : m_pid(o.m_pid), m_release(std::move(o.m_release)) { o.m_pid = -1; }
    ExecHelper& operator=(ExecHelper&&) = delete;
    // The exec failed (or never happened): the helper ends, and is reaped.
    ~ExecHelper();
    pid_t pid() const { return m_pid; }

private:
    ExecHelper(pid_t pid, UniqueFd release) : m_pid(pid), m_release(std::move(release)) {}
    pid_t m_pid;
    UniqueFd m_release;   // the pipe's write end: closed by the exec
};

// In the new program: reaps the helper `pid` once it has exited (a pidfd
// watched by the loop; nothing if the pid is not a child of this process).
void reap_exec_helper(EventLoop& loop, pid_t pid);

}  // namespace molt::vmm
