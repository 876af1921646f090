// Session; see session.h.
#include "runtime/qmp/session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/qmp/server.h"
#include "runtime/socket.h"

namespace molt::qmp {

Session::Session(UniqueFd in, UniqueFd out, Dispatcher& dispatcher, const ServerLimits& limits)
    : m_in(std::move(in)),
      m_out(std::move(out)),
      m_dispatcher(dispatcher),
      m_limits(limits),
      m_parser([this](Result<Json> request) { m_requests.push_back(std::move(request)); },
               limits.json) {}

bool Session::overflowed() const { return pending_output() > m_limits.drop_client_above; }

bool Session::on_readable() {
    if (m_in_buf.size() != m_limits.read_chunk) m_in_buf.resize(m_limits.read_chunk);
    std::vector<UniqueFd> fds;
    Result<size_t> n = recv_with_fds(m_in.get(), m_in_buf.data(), m_in_buf.size(), fds);
    if (!n) {
        int err = n.error().errno_value();
        return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
    }
    for (auto& fd : fds) {
        if (m_state.passed_fds.size() < m_limits.max_passed_fds) {
            m_state.passed_fds.push_back(std::move(fd));
        }
    }
    if (*n == 0) return false;
    m_parser.feed(std::string_view(m_in_buf.data(), *n));
    run_requests();
    return flush() && !overflowed();
}

void Session::run_requests() {
    while (!m_requests.empty() && pending_output() <= m_limits.pause_reading_above) {
        Result<Json> request = std::move(m_requests.front());
        m_requests.pop_front();
        std::string reply = m_dispatcher.handle(m_state, request);
        if (!reply.empty()) send_line(reply);
    }
}

void Session::send_line(std::string_view line) {
    if (m_out_pos == m_out_buf.size()) {
        m_out_buf.clear();
        m_out_pos = 0;
    }
    m_out_buf.append(line);
    m_out_buf.push_back('\n');
}

bool Session::flush() {
    while (m_out_pos < m_out_buf.size()) {
        const char* p = m_out_buf.data() + m_out_pos;
        size_t len = m_out_buf.size() - m_out_pos;
        ssize_t n = same_fd() ? send(write_fd(), p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(write_fd(), p, len);
        if (n < 0 && errno == ENOTSOCK) n = write(write_fd(), p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        m_out_pos += static_cast<size_t>(n);
    }
    m_out_buf.clear();
    m_out_pos = 0;
    return true;
}

}  // namespace molt::qmp
