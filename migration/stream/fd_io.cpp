// Retrying fd reads and writes for the migration stream (fd_io.h).
#include "migration/stream/fd_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Result<void> write_all_with_fds(int fd, std::span<iovec> iov, std::span<const int> fds) {
    if (fds.size() > kMaxFdsPerWrite) return Error("too many file descriptors for one write");
    while (!iov.empty() && iov.front().iov_len == 0) iov = iov.subspan(1);
    if (iov.empty()) return Error("file descriptors need at least one byte to go with");
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerWrite)] = {};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    for (;;) {
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                MOLT_TRY(wait_ready(fd, POLLOUT));
                continue;
            }
            return Error::from_errno(errno, "sendmsg");
        }
        if (n == 0) return Error::from_errno(EIO, "sendmsg");
        // The fds went with the first byte; the rest as usual.
        return write_all(fd, FdKind::Socket, consume(iov, static_cast<size_t>(n)));
    }
}

namespace {

// recvmsg that keeps the descriptors coming with the bytes.
ssize_t recv_with_fds(int fd, uint8_t* p, size_t size, std::vector<UniqueFd>& fds) {
    constexpr size_t kMax = 64;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMax)];
    iovec iov{p, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.emplace_back(received);
        }
    }
    return n;
}

}  // namespace

Result<size_t> read_some(int fd, uint8_t* p, size_t size, std::vector<UniqueFd>* fds) {
    for (;;) {
        ssize_t n = fds ? recv_with_fds(fd, p, size, *fds) : read(fd, p, size);
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
