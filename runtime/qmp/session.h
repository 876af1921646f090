// One QMP client connection (runtime/qmp): its fds, its JSON stream
// parser, its protocol state and its output queue.  Owned and driven by
// the Server on the main thread; see server.h for the limits it enforces.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "runtime/json_parser.h"
#include "runtime/qmp/dispatch.h"

namespace molt::qmp {

struct ServerLimits;

class Session {
public:
    // in and out are the same socket for network clients, stdin/stdout
    // for -qmp stdio (then out is a dup of 1).
    Session(UniqueFd in, UniqueFd out, Dispatcher& dispatcher, const ServerLimits& limits);

    int in_fd() const { return m_in.get(); }
    int out_fd() const { return m_out.get(); }
    bool same_fd() const { return m_out.get() < 0; }
    SessionState& state() { return m_state; }

    // Reads one chunk and handles the requests in it, as many as the
    // output limit allows (run_requests).  Returns false when the client
    // is gone or broke a limit (the server then closes it).
    bool on_readable();
    // Handles queued requests while less than the server's pause limit of
    // output waits: one chunk read (64 KiB) may hold thousands of requests
    // for big replies, whose output would otherwise be made all at once.
    void run_requests();
    bool has_queued_requests() const { return !m_requests.empty(); }
    // Writes queued output; false when the client is gone.
    bool flush();

    // Queues one line (a response, an event, the greeting).
    void send_line(std::string_view line);

    size_t pending_output() const { return m_out_buf.size() - m_out_pos; }
    bool reading_paused() const { return m_reading_paused; }
    void set_reading_paused(bool paused) { m_reading_paused = paused; }
    bool overflowed() const;

    // The epoll interest currently set (kept by the Server).
    uint32_t armed_in = 0x001;   // EPOLLIN
    uint32_t armed_out = 0;

private:
    int write_fd() const { return same_fd() ? m_in.get() : m_out.get(); }

    UniqueFd m_in;
    UniqueFd m_out;
    Dispatcher& m_dispatcher;
    const ServerLimits& m_limits;
    SessionState m_state;
    JsonStreamParser m_parser;
    std::deque<Result<Json>> m_requests;   // parsed, not yet handled
    std::vector<char> m_in_buf;
    std::string m_out_buf;
    size_t m_out_pos = 0;
    bool m_reading_paused = false;
};

}  // namespace molt::qmp
