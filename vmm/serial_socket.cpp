// SerialSocket; see serial_socket.h.
#include "vmm/serial_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/socket.h"

namespace molt::vmm {

namespace {

// At most this much moves per wake-up in each direction, so that a busy
// guest or a flooding client cannot starve the loop's other watches.
constexpr size_t kOutputChunk = 16 * 1024;
constexpr size_t kInputChunk = 4096;

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Changes an fd's epoll interest only when it differs from what is armed.
void arm(EventLoop& loop, int fd, uint32_t events, uint32_t& armed) {
    if (events == armed) return;
    (void)loop.modify(fd, events);
    armed = events;
}

}  // namespace

Result<std::unique_ptr<SerialSocket>> SerialSocket::open(EventLoop& loop,
                                                         const cli::CharSpec& spec) {
    std::unique_ptr<SerialSocket> s(new SerialSocket(loop, spec));
    MOLT_TRY(s->start());
    return s;
}

SerialSocket::~SerialSocket() {
    for (const UniqueFd* fd : {&m_client, &m_listener, &m_pipe_read}) {
        if (*fd) m_loop.remove(fd->get());
    }
    if (!m_unix_path.empty()) unlink(m_unix_path.c_str());
}

Result<void> SerialSocket::start() {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return Error::from_errno(errno, "pipe");
    m_pipe_read = UniqueFd(p[0]);
    m_pipe_write = UniqueFd(p[1]);
    MOLT_TRY(m_loop.add(m_pipe_read.get(), 0, [this](uint32_t) { on_output(); }));
    bool is_unix = m_spec.kind == cli::CharSpec::Kind::Unix;
    if (!m_spec.server) {
        UniqueFd fd;
        if (is_unix) {
            fd = MOLT_TRY(connect_unix(m_spec.path));
        } else {
            fd = MOLT_TRY(connect_tcp(m_spec.host, m_spec.port));
        }
        fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
        return connected(std::move(fd));
    }
    m_wait = m_spec.wait;
    if (is_unix) {
        m_listener = MOLT_TRY(listen_unix(m_spec.path));
        m_unix_path = m_spec.path;
    } else {
        m_listener = MOLT_TRY(listen_tcp(m_spec.host, m_spec.port));
        m_tcp_port = MOLT_TRY(local_port(m_listener.get()));
    }
    MOLT_TRY(m_loop.add(m_listener.get(), EPOLLIN, [this](uint32_t) { on_accept(); }));
    m_listener_events = EPOLLIN;
    rearm();
    return ok();
}

std::string SerialSocket::describe() const {
    std::string where;
    if (m_spec.kind == cli::CharSpec::Kind::Unix) {
        where = "unix:" + m_spec.path;
    } else {
        bool v6 = m_spec.host.find(':') != std::string::npos;
        where = "tcp:" + (v6 ? "[" + m_spec.host + "]" : m_spec.host) + ":" +
                (m_tcp_port >= 0 ? std::to_string(m_tcp_port) : m_spec.port);
    }
    return std::string("serial: ") + (m_spec.server ? "listening on " : "connected to ") + where;
}

void SerialSocket::attach(hw::Machine& machine) {
    m_machine = &machine;
    machine.set_serial_output(std::move(m_pipe_write));
    rearm();
}

// The watches follow the state: the listener while no client is
// connected; the pipe unless output waits for the client; the client for
// hang-up always, for input once attached, for room while output waits.
void SerialSocket::rearm() {
    if (m_listener) {
        arm(m_loop, m_listener.get(), m_client ? 0u : uint32_t{EPOLLIN}, m_listener_events);
    }
    if (m_pipe_read) {
        arm(m_loop, m_pipe_read.get(), m_pending.empty() ? uint32_t{EPOLLIN} : 0u, m_pipe_events);
    }
    if (m_client) {
        uint32_t events = EPOLLRDHUP;
        if (m_machine) events |= EPOLLIN;
        if (!m_pending.empty()) events |= EPOLLOUT;
        arm(m_loop, m_client.get(), events, m_client_events);
    }
}

void SerialSocket::on_accept() {
    if (m_client) return;
    // A failed or vanished connection leaves the listener as it was.
    Result<UniqueFd> fd = accept_connection(m_listener.get());
    if (fd && *fd) (void)connected(std::move(*fd));
}

Result<void> SerialSocket::connected(UniqueFd client) {
    if (m_spec.kind == cli::CharSpec::Kind::Tcp && m_spec.nodelay) {
        int one = 1;
        setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    MOLT_TRY(m_loop.add(client.get(), 0, [this](uint32_t events) { on_client(events); }));
    m_client = std::move(client);
    m_client_events = 0;
    m_ever_connected = true;
    rearm();
    return ok();
}

void SerialSocket::disconnect() {
    m_loop.remove(m_client.get());
    m_client.reset();
    m_pending.clear();
    rearm();   // the listener back on (server=on); the pipe read and dropped
}

void SerialSocket::on_client(uint32_t events) {
    if ((events & EPOLLOUT) && !m_pending.empty()) {
        ssize_t n = send(m_client.get(), m_pending.data(), m_pending.size(),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && !would_block(errno)) return disconnect();
        if (n > 0) m_pending.erase(0, static_cast<size_t>(n));
    }
    constexpr uint32_t kGone = EPOLLHUP | EPOLLERR | EPOLLRDHUP;
    if (m_machine && (events & (EPOLLIN | kGone))) {
        // Data sent before a hang-up is read first; end of stream follows.
        uint8_t buf[kInputChunk];
        ssize_t n = recv(m_client.get(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            m_machine->serial_input(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
        } else if (n == 0 || !would_block(errno)) {
            return disconnect();
        }
    } else if (events & kGone) {
        return disconnect();
    }
    rearm();
}

void SerialSocket::on_output() {
    char buf[kOutputChunk];
    ssize_t n = read(m_pipe_read.get(), buf, sizeof(buf));
    if (n == 0) {   // the UART is gone: nothing more will come
        m_loop.remove(m_pipe_read.get());
        m_pipe_read.reset();
        return;
    }
    if (n < 0 || !m_client) return;   // nothing, or no client: dropped
    size_t len = static_cast<size_t>(n);
    ssize_t sent = send(m_client.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && !would_block(errno)) return disconnect();
    size_t done = sent < 0 ? 0 : static_cast<size_t>(sent);
    if (done < len) {
        m_pending.assign(buf + done, len - done);
        rearm();
    }
}

}  // namespace molt::vmm
