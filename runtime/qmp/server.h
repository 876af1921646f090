// The QMP server: listeners, client sessions, events (runtime/qmp).
//
//   client                         molt (main thread, EventLoop)
//     |  connect ------------------>  accept: new Session, greeting
//     |  <------ {"QMP": {...}}
//     |  {"execute": ...} --------->  recv (+SCM_RIGHTS fds) -> JsonStreamParser
//     |                                 -> Dispatcher -> marshaller -> handler
//     |  <------ {"event": ...}       events emitted meanwhile come first
//     |  <------ {"return": ...}
//
// Several listeners (UNIX, TCP, stdio) and any number of clients at once.
// Every socket is non-blocking and served from the event loop, so a slow,
// flooding or garbage-sending client costs only its own share: a read
// takes at most 64 KiB per wake-up; a client that does not read its
// replies stops being read, and the requests of its already read (up to
// thousands in 64 KiB) wait, once 1 MiB of output waits for it; it is
// dropped at 16 MiB; one JSON value may use at most 8 MiB of tokens and
// nest 1024 deep.  Events go to negotiated clients only.  UNIX socket
// files are removed when the server goes away.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/event_loop.h"
#include "runtime/events.h"
#include "runtime/qmp/dispatch.h"
#include "runtime/timer.h"

namespace molt::qmp {

class Session;

struct ServerLimits {
    size_t read_chunk = 64 * 1024;
    size_t pause_reading_above = 1 << 20;   // output bytes waiting
    size_t drop_client_above = 16 << 20;
    JsonLimits json{size_t{8} << 20, size_t{2} << 20, 1024};
    size_t max_passed_fds = 16;             // kept per client until getfd
};

class Server : public EventSink {
public:
    // greeting_json: the "QMP" object's value, e.g. {"version": ..., "capabilities": ["oob"]}.
    Server(EventLoop& loop, Dispatcher& dispatcher, std::string greeting_json,
           CompatPolicy policy = {}, ServerLimits limits = {});
    ~Server() override;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Listens.  wait=true (QEMU's server=on,wait=on) marks the listener as
    // one start-up waits for: waiting() stays true until it has accepted
    // its first client; the caller runs the event loop meanwhile.
    Result<void> listen_unix(const std::string& path, bool wait);
    Result<void> listen_tcp(const std::string& host, const std::string& port, bool wait);
    // Serves one session on stdin/stdout (-qmp stdio).
    Result<void> attach_stdio();

    // EventSink: {"timestamp": {...}, "event": NAME, "data": {...}} to every
    // negotiated client.
    const CompatPolicy& policy() const override { return m_policy; }
    void emit(std::string_view event, std::string_view data_json) override;

    // Writes what is pending to every client, waiting up to timeout_ms in
    // total (before exit, so that quit's reply arrives).
    void flush_all(int timeout_ms) override;

    size_t session_count() const { return m_sessions.size(); }
    bool waiting() const;
    // The TCP port of the last TCP listener (useful with port 0).
    int last_tcp_port() const { return m_last_tcp_port; }

private:
    struct Listener {
        UniqueFd fd;
        std::string unix_path;  // removed on destruction
        bool wait = false;
        size_t accepted = 0;
    };
    Result<void> add_listener(UniqueFd fd, std::string unix_path, bool wait);
    void on_accept(int listen_fd);
    Result<void> add_session(UniqueFd in, UniqueFd out);
    void on_session_ready(int fd, uint32_t events);
    void arm(int fd, Session& s);
    void close_session(int fd);

    EventLoop& m_loop;
    Dispatcher& m_dispatcher;
    std::string m_greeting;
    CompatPolicy m_policy;
    ServerLimits m_limits;
    std::vector<Listener> m_listeners;
    std::map<int, std::unique_ptr<Session>> m_sessions;  // by input fd
    static constexpr uint64_t kTrimDelayMs = 200;
    std::unique_ptr<Timer> m_trim;   // gives closed sessions' memory back (close_session)
    int m_last_tcp_port = -1;
};

}  // namespace molt::qmp
