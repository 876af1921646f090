// Retrying fd reads and writes for the migration stream (fd_io.h).
#include "migration/stream/fd_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/socket.h"

namespace molt::migration::stream {

namespace {

// A non-blocking fd said EAGAIN: wait until it is ready for events.
Result<void> wait_ready(int fd, short events) {
    pollfd p{fd, events, 0};
    while (poll(&p, 1, -1) < 0) {
        if (errno != EINTR) return Error::from_errno(errno, "poll");
    }
    return ok();
}

// Drops the first n bytes of iov, advancing its entries in place.
std::span<iovec> consume(std::span<iovec> iov, size_t n) {
    while (!iov.empty() && n >= iov.front().iov_len) {
        n -= iov.front().iov_len;
        iov = iov.subspan(1);
    }
    if (n > 0) {
        iov.front().iov_base = static_cast<uint8_t*>(iov.front().iov_base) + n;
        iov.front().iov_len -= n;
    }
    return iov;
}

ssize_t write_once(int fd, FdKind kind, std::span<iovec> iov) {
    if (kind == FdKind::Socket) {
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        return sendmsg(fd, &msg, MSG_NOSIGNAL);
    }
    return writev(fd, iov.data(), static_cast<int>(iov.size()));
}

}  // namespace

FdKind fd_kind(int fd) {
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) return FdKind::Socket;
    return FdKind::Other;
}

Result<void> write_all(int fd, FdKind kind, std::span<iovec> iov) {
    while (!iov.empty() && iov.front().iov_len == 0) iov = iov.subspan(1);
    while (!iov.empty()) {
        ssize_t n = write_once(fd, kind, iov);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                MOLT_TRY(wait_ready(fd, POLLOUT));
                continue;
            }
            return Error::from_errno(errno, "write");
        }
        if (n == 0) return Error::from_errno(EIO, "write");
        iov = consume(iov, static_cast<size_t>(n));
    }
    return ok();
}

Result<size_t> read_some(int fd, uint8_t* p, size_t size, std::vector<UniqueFd>* fds) {
    for (;;) {
        if (fds) {
            // runtime/socket's recvmsg (non-blocking, fds close-on-exec);
            // EAGAIN waits like a plain read below.
            std::vector<UniqueFd> batch;
            Result<size_t> got = recv_with_fds(fd, reinterpret_cast<char*>(p), size, batch);
            if (got) {
                for (UniqueFd& f : batch) fds->push_back(std::move(f));
                return *got;
            }
            if (got.error().errno_value() != EAGAIN && got.error().errno_value() != EINTR) return got.error();
            if (got.error().errno_value() == EAGAIN) MOLT_TRY(wait_ready(fd, POLLIN));
            continue;
        }
        ssize_t n = read(fd, p, size);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            MOLT_TRY(wait_ready(fd, POLLIN));
            continue;
        }
        return Error::from_errno(errno, "read");
    }
}

}  // namespace molt::migration::stream
