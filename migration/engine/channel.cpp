// open_outgoing(), open_incoming(); see channel.h.
#include "migration/engine/channel.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "runtime/fault_inject.h"
#include "qapi-types-sockets.h"
#include "runtime/socket.h"

extern char** environ;

namespace molt::migration {

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
        reap(true);
        m_pid = o.m_pid;
        o.m_pid = -1;
    }
    return *this;
}

int ChildProcess::reap(bool kill_first) {
    if (m_pid < 0) return 0;
    if (kill_first) kill(m_pid, SIGTERM);
    int status = 0;
    while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string describe(const api::MigrationAddress& a) {
    using T = api::MigrationAddressType;
    switch (a.transport) {
    case T::Socket: {
        const api::SocketAddress& s = *a.u.socket;
        switch (s.type) {
        case api::SocketAddressType::Inet: return "tcp:" + s.u.inet->host + ":" + s.u.inet->port;
        case api::SocketAddressType::Unix: return "unix:" + s.u.unix_->path;
        case api::SocketAddressType::Fd: return "fd:" + s.u.fd->str;
        }
        break;
    }
    case T::File: return "file:" + a.u.file->filename;
    case T::Exec: {
        std::string s = "exec:";
        for (const std::string& arg : a.u.exec->args) s += (s.size() > 5 ? " " : "") + arg;
        return s;
    }
    }
    return "?";
}

namespace {

// argv with one end of a pipe as the child's stdin (to_child) or stdout.
Result<Channel> spawn(const std::vector<std::string>& args, bool to_child) {
    if (args.empty()) return Error("exec: needs a command");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe");
    UniqueFd read_end(p[0]), write_end(p[1]);
    int child_end = to_child ? read_end.get() : write_end.get();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_end, to_child ? 0 : 1);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return Error::from_errno(rc, "exec: " + args[0]);
    Channel c;
    c.fd = to_child ? std::move(write_end) : std::move(read_end);
    c.child = ChildProcess(pid);
    return c;
}

Result<UniqueFd> open_file(const api::FileMigrationArgs& f, bool outgoing) {
    int flags = outgoing ? O_WRONLY | O_CREAT : O_RDONLY;
    UniqueFd fd(open(f.filename.c_str(), flags | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno(errno, "Could not open '" + f.filename + "'");
    uint64_t offset = f.offset.value_or(0);
    if (outgoing && ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) {
        return Error::from_errno(errno, "truncate '" + f.filename + "'");
    }
    if (lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
        return Error::from_errno(errno, "seek '" + f.filename + "'");
    }
    return fd;
}

Result<Channel> open_socket(const api::SocketAddress& s, bool outgoing, const TakeNamedFd& named) {
    Channel c;
    switch (s.type) {
    case api::SocketAddressType::Unix:
        c.fd = outgoing ? MOLT_TRY(connect_unix(s.u.unix_->path)) : MOLT_TRY(listen_unix(s.u.unix_->path));
        break;
    case api::SocketAddressType::Inet:
        c.fd = outgoing ? MOLT_TRY(connect_tcp(s.u.inet->host, s.u.inet->port))
                        : MOLT_TRY(listen_tcp(s.u.inet->host, s.u.inet->port));
        break;
    case api::SocketAddressType::Fd:
        c.fd = MOLT_TRY(named(s.u.fd->str));
        return c;
    }
    c.listening = !outgoing;
    return c;
}

Result<Channel> open(const api::MigrationAddress& a, bool outgoing, const TakeNamedFd& named) {
    using T = api::MigrationAddressType;
    Channel c;
    switch (a.transport) {
    case T::Socket: c = MOLT_TRY(open_socket(*a.u.socket, outgoing, named)); break;
    case T::File: c.fd = MOLT_TRY(open_file(*a.u.file, outgoing)); break;
    case T::Exec: c = MOLT_TRY(spawn(a.u.exec->args, outgoing)); break;
    }
    c.description = describe(a);
    return c;
}

}  // namespace

Result<Channel> open_outgoing(const api::MigrationAddress& a, const TakeNamedFd& named) {
    MOLT_TRY(fault::check("src-connect"));
    return open(a, true, named);
}

Result<Channel> open_incoming(const api::MigrationAddress& a, const TakeNamedFd& named) {
    return open(a, false, named);
}

}  // namespace molt::migration
