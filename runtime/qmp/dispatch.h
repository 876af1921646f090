// The QMP dispatcher: one request in, one response out (runtime/qmp).
//
// Sits between a session's JSON stream parser and the generated
// marshallers.  It applies QEMU's protocol rules (QEMU monitor/qmp.c and
// qapi/qmp-dispatch.c, observed on 7.2): capabilities negotiation, the
// checks of the request object and their "QMP input ..." texts, exec-oob,
// command lookup, the precreate phase (only 'allow-preconfig' commands),
// and the response shapes {"return": R, "id": I} / {"id": I, "error":
// {"class": C, "desc": D}}.  It owns no sockets and knows no Context: the
// application runs a command through the Invoke callback, which sets up
// its Context and calls the marshaller.
#pragma once

#include <deque>
#include <functional>
#include <string>

#include "runtime/command_table.h"
#include "runtime/json.h"
#include "runtime/unique_fd.h"

namespace molt::qmp {

// A client's protocol state, readable and writable by command handlers
// (qmp_capabilities completes negotiation, getfd takes a passed fd).
struct SessionState {
    bool negotiated = false;
    bool oob = false;                     // enabled by qmp_capabilities
    std::deque<UniqueFd> passed_fds;      // received by SCM_RIGHTS, oldest first
};

// Runs a command: the application points its Context at `session` and
// calls def.marshal(); the marshaller writes the return value to `ret`.
using Invoke = std::function<Result<void>(SessionState& session, const CommandDef& def,
                                          const JsonValue& args, JsonWriter& ret)>;

class Dispatcher {
public:
    // policy (-compat) decides about commands with feature 'deprecated'
    // or 'unstable'; the Invoke callback applies it to arguments and returns.
    Dispatcher(const CommandTable& table, Invoke invoke, CompatPolicy policy = {});

    // While on, commands without 'allow-preconfig' are refused (-precreate).
    void set_precreate(bool on) { m_precreate = on; }
    bool precreate() const { return m_precreate; }

    // Handles one parsed request, or the stream parser's error for one.
    // Returns the response line without its newline; empty for a command
    // with 'success-response': false.
    std::string handle(SessionState& session, const Result<Json>& request);

private:
    Result<void> run(SessionState& session, const JsonValue& req, JsonWriter& ret,
                     bool& respond);

    const CommandTable& m_table;
    Invoke m_invoke;
    CompatPolicy m_policy;
    bool m_precreate = false;
};

}  // namespace molt::qmp
