// Server; see server.h.
#include "runtime/qmp/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>

#include "runtime/qmp/session.h"
#include "runtime/socket.h"

namespace molt::qmp {

Server::Server(EventLoop& loop, Dispatcher& dispatcher, std::string greeting_json,
               CompatPolicy policy, ServerLimits limits)
    : m_loop(loop),
      m_dispatcher(dispatcher),
      m_greeting("{\"QMP\": " + greeting_json + "}"),
      m_policy(policy),
      m_limits(limits) {}

Server::~Server() {
    for (auto& [fd, session] : m_sessions) {
        m_loop.remove(fd);
    }
    m_sessions.clear();
    for (auto& l : m_listeners) {
        m_loop.remove(l.fd.get());
        if (!l.unix_path.empty()) unlink(l.unix_path.c_str());
    }
}

Result<void> Server::listen_unix(const std::string& path, bool wait) {
    UniqueFd fd = MOLT_TRY(molt::listen_unix(path));
    return add_listener(std::move(fd), path, wait);
}

Result<void> Server::listen_tcp(const std::string& host, const std::string& port, bool wait) {
    UniqueFd fd = MOLT_TRY(molt::listen_tcp(host, port));
    m_last_tcp_port = MOLT_TRY(local_port(fd.get()));
    return add_listener(std::move(fd), {}, wait);
}

Result<void> Server::add_listener(UniqueFd fd, std::string unix_path, bool wait) {
    int lfd = fd.get();
    m_listeners.push_back({std::move(fd), std::move(unix_path), wait, 0});
    return m_loop.add(lfd, EPOLLIN, [this, lfd](uint32_t) { on_accept(lfd); });
}

bool Server::waiting() const {
    for (const auto& l : m_listeners) {
        if (l.wait && l.accepted == 0) return true;
    }
    return false;
}

Result<void> Server::attach_stdio() {
    UniqueFd in(fcntl(0, F_DUPFD_CLOEXEC, 3));
    UniqueFd out(fcntl(1, F_DUPFD_CLOEXEC, 3));
    if (!in || !out) return Error::from_errno(errno, "stdio");
    for (int fd : {in.get(), out.get()}) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return add_session(std::move(in), std::move(out));
}

void Server::on_accept(int listen_fd) {
    // A bounded number per wake-up, so a connect storm cannot starve others.
    for (int i = 0; i < 16; ++i) {
        Result<UniqueFd> fd = accept_connection(listen_fd);
        if (!fd || !*fd) return;
        if (add_session(std::move(*fd), UniqueFd())) {
            for (auto& l : m_listeners) {
                if (l.fd.get() == listen_fd) ++l.accepted;
            }
        }
    }
}

Result<void> Server::add_session(UniqueFd in, UniqueFd out) {
    int fd = in.get();
    auto session = std::make_unique<Session>(std::move(in), std::move(out), m_dispatcher, m_limits);
    session->send_line(m_greeting);
    if (!session->flush()) return Error("QMP client went away");
    MOLT_TRY(m_loop.add(fd, EPOLLIN, [this, fd](uint32_t ev) { on_session_ready(fd, ev); }));
    if (!session->same_fd()) {
        int ofd = session->out_fd();
        if (!m_loop.add(ofd, 0, [this, fd](uint32_t) { on_session_ready(fd, EPOLLOUT); })) {
            // A regular file cannot be polled; it is always writable.
            fcntl(ofd, F_SETFL, fcntl(ofd, F_GETFL) & ~O_NONBLOCK);
        }
    }
    m_sessions.emplace(fd, std::move(session));
    return ok();
}

void Server::on_session_ready(int fd, uint32_t events) {
    auto it = m_sessions.find(fd);
    if (it == m_sessions.end()) return;
    Session& s = *it->second;
    bool alive = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        alive = s.flush();
        // Output drained: the requests held back for it go on.
        if (alive && s.has_queued_requests()) {
            s.run_requests();
            alive = s.flush();
        }
    }
    if (alive && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s.reading_paused()) {
        alive = s.on_readable();
    }
    // Requests held back while their output was over the limit, which the
    // client then took all at once: no EPOLLOUT would come for them.
    while (alive && s.has_queued_requests() && s.pending_output() == 0) {
        s.run_requests();
        alive = s.flush();
    }
    if (!alive || s.overflowed()) {
        close_session(fd);
        return;
    }
    arm(fd, s);
}

// Sets the session's epoll interest from its state, with a system call
// only when it changes: read unless paused for back-pressure (a client
// that does not read its replies is not read either), write while output
// waits.
void Server::arm(int fd, Session& s) {
    s.set_reading_paused(s.pending_output() > m_limits.pause_reading_above ||
                         s.has_queued_requests());
    uint32_t in = s.reading_paused() ? 0u : uint32_t{EPOLLIN};
    uint32_t out = s.pending_output() > 0 ? uint32_t{EPOLLOUT} : 0u;
    if (s.same_fd()) {
        in |= out;
        out = 0;
    }
    if (in != s.armed_in) {
        (void)m_loop.modify(fd, in);
        s.armed_in = in;
    }
    if (!s.same_fd() && out != s.armed_out && m_loop.watching(s.out_fd())) {
        (void)m_loop.modify(s.out_fd(), out);
        s.armed_out = out;
    }
}

void Server::close_session(int fd) {
    auto it = m_sessions.find(fd);
    if (it == m_sessions.end()) return;
    m_loop.remove(fd);
    if (!it->second->same_fd() && m_loop.watching(it->second->out_fd())) {
        m_loop.remove(it->second->out_fd());
    }
    m_sessions.erase(it);
    // A client's buffers (up to a JSON value's 8 MiB, replies queued for
    // it) are freed now, but the allocator keeps such memory resident
    // where it is not at the heap's top: given back a little later, once
    // for all the clients that go meanwhile (one that connects and hangs
    // up in a loop costs one trim per kTrimDelayMs at most).
    if (!m_trim) {
        Result<std::unique_ptr<Timer>> t = Timer::create(m_loop, [] { malloc_trim(0); });
        if (t) m_trim = std::move(*t);
    }
    if (m_trim && !m_trim->armed()) (void)m_trim->start(kTrimDelayMs);
}

void Server::emit(std::string_view event, std::string_view data_json) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    std::string line = "{\"timestamp\": {\"seconds\": " + std::to_string(tv.tv_sec) +
                       ", \"microseconds\": " + std::to_string(tv.tv_usec) + "}, \"event\": ";
    json_quote(line, event);
    if (!data_json.empty()) {
        line += ", \"data\": ";
        line += data_json;
    }
    line += "}";
    // Sessions are closed only from their own handler, never from here:
    // an event may be emitted while a session's request runs.
    for (auto& [fd, s] : m_sessions) {
        if (!s->state().negotiated) continue;
        s->send_line(line);
        (void)s->flush();
        arm(fd, *s);
    }
}

void Server::flush_all(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (auto& [fd, s] : m_sessions) {
        while (s->pending_output() > 0) {
            if (!s->flush()) break;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
            if (s->pending_output() == 0 || left <= 0) break;
            pollfd p{s->same_fd() ? fd : s->out_fd(), POLLOUT, 0};
            poll(&p, 1, static_cast<int>(left));
        }
    }
}

}  // namespace molt::qmp
