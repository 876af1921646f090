// Sockets; see socket.h.
#include "runtime/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace molt {

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        return Error("UNIX socket path '" + path + "' is too long");
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

struct AddrInfo {
    addrinfo* list = nullptr;
    ~AddrInfo() { if (list) freeaddrinfo(list); }
};

Result<void> resolve(const std::string& host, const std::string& port, bool passive,
                     AddrInfo& out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &out.list);
    if (rc != 0) {
        return Error("address resolution failed for " + host + ":" + port + ": " +
                     gai_strerror(rc));
    }
    return ok();
}

// A sockaddr_* cast to sockaddr for the socket API.
// SAFETY: the socket calls take the generic type and the family tag.
template <class T>
sockaddr* as_sockaddr(T* addr) { return reinterpret_cast<sockaddr*>(addr); }

}  // namespace

Result<UniqueFd> listen_unix(const std::string& path) {
    sockaddr_un addr = MOLT_TRY(unix_address(path));
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return Error("Failed to bind socket to " + path + ": File exists", ErrorClass::GenericError,
                         EEXIST);
        }
        unlink(path.c_str());
    }
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::from_errno(errno, "Failed to create socket");
    // Bound and listening under a temporary name, then renamed: the path
    // appears only once connecting to it works (a client that waits for
    // the file would otherwise be refused between bind and listen).  A
    // path too long for the temporary name is bound directly.
    std::string staging = path + ".~" + std::to_string(getpid());
    Result<sockaddr_un> staged_addr = unix_address(staging);
    const std::string& bound = staged_addr ? staging : path;
    sockaddr_un bind_addr = staged_addr ? *staged_addr : addr;
    if (staged_addr) unlink(staging.c_str());
    // The socket file takes the process umask; owner-only while binding.
    mode_t old = umask(0177);
    int rc = bind(fd.get(), as_sockaddr(&bind_addr), sizeof(bind_addr));
    int err = errno;
    umask(old);
    if (rc != 0) return Error::from_errno(err, "Failed to bind socket to " + path);
    if (listen(fd.get(), 64) != 0) {
        err = errno;
        unlink(bound.c_str());
        return Error::from_errno(err, "Failed to listen on socket " + path);
    }
    if (staged_addr && rename(staging.c_str(), path.c_str()) != 0) {
        err = errno;
        unlink(staging.c_str());
        return Error::from_errno(err, "Failed to bind socket to " + path);
    }
    return fd;
}

Result<UniqueFd> listen_tcp(const std::string& host, const std::string& port) {
    AddrInfo ai;
    MOLT_TRY(resolve(host, port, true, ai));
    int last = 0;
    for (addrinfo* a = ai.list; a; a = a->ai_next) {
        UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                           a->ai_protocol));
        if (!fd) { last = errno; continue; }
        int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || listen(fd.get(), 64) != 0) {
            last = errno;
            continue;
        }
        return fd;
    }
    return Error::from_errno(last, "Failed to bind socket to " + host + ":" + port);
}

Result<int> local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, as_sockaddr(&ss), &len) != 0) return Error::from_errno(errno, "getsockname");
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return Error("not a TCP socket");
}

Result<UniqueFd> accept_connection(int listen_fd) {
    UniqueFd fd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR) {
            return UniqueFd();
        }
        return Error::from_errno(errno, "accept");
    }
    return fd;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    sockaddr_un addr = MOLT_TRY(unix_address(path));
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno(errno, "Failed to create socket");
    if (connect(fd.get(), as_sockaddr(&addr), sizeof(addr)) != 0) {
        return Error::from_errno(errno, "Failed to connect to '" + path + "'");
    }
    return fd;
}

Result<UniqueFd> connect_tcp(const std::string& host, const std::string& port) {
    AddrInfo ai;
    MOLT_TRY(resolve(host, port, false, ai));
    int last = 0;
    for (addrinfo* a = ai.list; a; a = a->ai_next) {
        UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) { last = errno; continue; }
        if (connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        last = errno;
    }
    return Error::from_errno(last, "Failed to connect to '" + host + ":" + port + "'");
}

Result<void> check_peer_is_same_user(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return Error::from_errno(errno, "SO_PEERCRED");
    }
    if (cred.uid != geteuid()) {
        return Error("the peer (pid " + std::to_string(cred.pid) + ") runs as uid " + std::to_string(cred.uid) +
                     ", not " + std::to_string(geteuid()));
    }
    return ok();
}

Result<size_t> recv_with_fds(int fd, char* buf, size_t len, std::vector<UniqueFd>& fds) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    iovec iov{buf, len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == ENOTSOCK) {
            n = read(fd, buf, len);
            if (n < 0) return Error::from_errno(errno, "read");
            return static_cast<size_t>(n);
        }
        return Error::from_errno(errno, "recvmsg");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            UniqueFd owned(received);
            if (fds.size() < kMaxFdsPerMessage) fds.push_back(std::move(owned));
        }
    }
    return static_cast<size_t>(n);
}

Result<void> send_with_fds(int fd, std::string_view data, const std::vector<int>& fds) {
    if (fds.size() > kMaxFdsPerMessage) return Error("too many file descriptors to send");
    size_t off = 0;
    bool first = true;
    while (off < data.size() || first) {
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)] = {};
        iovec iov{const_cast<char*>(data.data() + off), data.size() - off};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (first && !fds.empty()) {
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno(errno, "sendmsg");
        }
        off += static_cast<size_t>(n);
        first = false;
    }
    return ok();
}

}  // namespace molt
