// moltctl's QMP client: one blocking connection to a QMP server.
//
//   moltctl                              server (molt or QEMU)
//     |  connect (UNIX path or tcp:HOST:PORT) ->
//     |  <--------- {"QMP": {"version": ..., "capabilities": [...]}}
//     |  {"execute": "qmp_capabilities", "id": "moltctl-1"} -->
//     |  <--------- {"return": {}, "id": "moltctl-1"}
//     |  {"execute": CMD, "arguments": {...}, "id": "moltctl-2"} -->
//     |  <--------- {"event": ...}      (any number, kept for next_event)
//     |  <--------- {"return": ..., "id": "moltctl-2"}  or {"error": ...}
//
// Replies are matched by id; events that arrive first are kept in order.
// Incoming bytes go through molt's own JSON stream parser
// (runtime/json_parser.h).  Single-threaded; used by cli/moltctl.cpp.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/json.h"
#include "runtime/json_parser.h"
#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::cli {

using Clock = std::chrono::steady_clock;
// No deadline: wait as long as it takes.
using Deadline = std::optional<Clock::time_point>;

class QmpClient {
public:
    // Connects to spec (a UNIX socket path, or tcp:HOST:PORT with HOST
    // possibly in [brackets]), reads the greeting and negotiates
    // capabilities.  Errors: the connect failure ("Failed to connect to
    // 'PATH': No such file or directory"), a closed connection, a greeting
    // that is not QMP's, a refused qmp_capabilities.
    static Result<std::unique_ptr<QmpClient>> connect(std::string_view spec);

    QmpClient(const QmpClient&) = delete;
    QmpClient& operator=(const QmpClient&) = delete;

    // Runs command (arguments: an object, or null for none) and returns
    // the reply's "return" value.  Error: the reply's "desc", or a
    // transport failure.  Events met on the way are kept for next_event().
    Result<Json> execute(std::string_view command, const Json* arguments = nullptr);

    enum class Wait { Got, Closed, TimedOut };
    // The next event, kept or arriving before deadline, into event.
    Result<Wait> next_event(Deadline deadline, Json& event);

private:
    explicit QmpClient(UniqueFd fd);
    Result<void> handshake();
    Result<Wait> next_message(Deadline deadline, Json& message);
    Result<Wait> fill(Deadline deadline);

    UniqueFd m_fd;
    JsonStreamParser m_parser;
    std::deque<Result<Json>> m_incoming;  // parsed, not yet looked at
    std::deque<Json> m_events;            // met while waiting for a reply
    unsigned m_next_id = 1;
    bool m_closed = false;                // the server closed the connection
};

}  // namespace molt::cli
