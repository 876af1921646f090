// ExecHelper, reap_exec_helper(); see exec_helper.h.
#include "vmm/exec_helper.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace molt::vmm {

namespace {

constexpr size_t kStackBytes = 64 * 1024;

// The helper, on the old address space: raw system calls only (it shares
// the memory, and the thread-local errno, of the thread that execs).
int helper_main(void* arg) {
    int fd = *static_cast<const int*>(arg);
    // Its copies of the old program's descriptors (guest RAM, TAPs,
    // sockets, the pipe's write end) are not its own to keep open.
    if (fd > 0) syscall(SYS_close_range, 0u, static_cast<unsigned>(fd - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(fd + 1), ~0u, 0u);
    char c;
    while (syscall(SYS_read, fd, &c, 1) > 0) {
    }
    syscall(SYS_exit, 0);
    return 0;
}

}  // namespace

Result<ExecHelper> ExecHelper::start() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe2");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    // The stack lives in the old address space, which goes with the helper.
    void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return Error::from_errno(errno, "mmap");
    static int helper_fd;   // read by the helper right away, before any exec
    helper_fd = read_end.get();
    pid_t pid = clone(helper_main, static_cast<char*>(stack) + kStackBytes, CLONE_VM | SIGCHLD, &helper_fd);
    if (pid < 0) {
        int err = errno;
        munmap(stack, kStackBytes);
        return Error::from_errno(err, "clone");
    }
    return ExecHelper(pid, std::move(write_end));
}

ExecHelper::~ExecHelper() {
    if (m_pid < 0) return;
    m_release.reset();   // EOF: the helper exits
    while (waitpid(m_pid, nullptr, __WALL) < 0 && errno == EINTR) {
    }
}

void reap_exec_helper(EventLoop& loop, pid_t pid) {
    auto fd = std::make_shared<UniqueFd>(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!*fd) {
        (void)waitpid(pid, nullptr, WNOHANG);
        return;
    }
    int raw = fd->get();
    Result<void> added = loop.add(raw, EPOLLIN, [&loop, fd, pid, raw](uint32_t) {
        (void)waitpid(pid, nullptr, WNOHANG);
        loop.remove(raw);
    });
    if (!added) (void)waitpid(pid, nullptr, WNOHANG);
}

}  // namespace molt::vmm
