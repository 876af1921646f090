// Dispatcher; see dispatch.h.  The order of the checks is QEMU's:
// the request's shape first (member by member), then negotiation, lookup,
// OOB permission and phase, then the arguments (by the marshaller).
#include "runtime/qmp/dispatch.h"

#include <utility>

namespace molt::qmp {

namespace {

constexpr std::string_view kNegotiationCommand = "qmp_capabilities";

Error input_error(std::string_view text) {
    return Error("QMP input " + std::string(text));
}

std::string_view str_of(const JsonValue& v) {
    return {v.GetString(), v.GetStringLength()};
}

struct Request {
    const JsonValue* id = nullptr;
    const JsonValue* args = nullptr;
    std::string_view command;
    bool oob = false;
};

// Checks the request object's members as qmp_dispatch_check_obj() does.
Result<Request> check_request(const JsonValue& req, bool allow_oob) {
    Request r;
    const JsonValue* exec = nullptr;
    const JsonValue* exec_oob = nullptr;
    for (auto m = req.MemberBegin(); m != req.MemberEnd(); ++m) {
        std::string_view key = str_of(m->name);
        const JsonValue& v = m->value;
        if (key == "execute" || (key == "exec-oob" && allow_oob)) {
            if (!v.IsString()) {
                return input_error("member '" + std::string(key) + "' must be a string");
            }
            (key == "execute" ? exec : exec_oob) = &v;
        } else if (key == "arguments") {
            if (!v.IsObject()) return input_error("member 'arguments' must be an object");
            r.args = &v;
        } else if (key == "id") {
            continue;
        } else {
            return input_error("member '" + std::string(key) + "' is unexpected");
        }
    }
    if (exec && exec_oob) return input_error("member 'execute' clashes with 'exec-oob'");
    if (!exec && !exec_oob) return input_error("lacks member 'execute'");
    r.command = str_of(exec ? *exec : *exec_oob);
    r.oob = exec_oob != nullptr;
    return r;
}

void write_error(JsonWriter& w, const Error& e) {
    w.key("error");
    w.begin_object();
    w.key("class");
    w.string(to_string(e.error_class()));
    w.key("desc");
    w.string(e.message());
    w.end_object();
}

}  // namespace

Dispatcher::Dispatcher(const CommandTable& table, Invoke invoke, CompatPolicy policy)
    : m_table(table), m_invoke(std::move(invoke)), m_policy(policy) {}

Result<void> Dispatcher::run(SessionState& session, const JsonValue& req, JsonWriter& ret,
                             bool& respond) {
    Request r = MOLT_TRY(check_request(req, session.oob));
    const CommandDef* def = m_table.find(r.command);
    if (!session.negotiated && r.command != kNegotiationCommand) {
        return Error("Expecting capabilities negotiation with 'qmp_capabilities'",
                     ErrorClass::CommandNotFound);
    }
    if (session.negotiated && r.command == kNegotiationCommand) {
        return Error("Capabilities negotiation is already complete, command ignored",
                     ErrorClass::CommandNotFound);
    }
    if (!def) {
        return Error("The command " + std::string(r.command) + " has not been found",
                     ErrorClass::CommandNotFound);
    }
    MOLT_TRY(compat_input_ok(def->special, m_policy, "command " + std::string(r.command),
                             ErrorClass::CommandNotFound));
    if (r.oob && !(def->flags & kAllowOob)) {
        return Error("The command " + std::string(r.command) + " does not support OOB");
    }
    if (m_precreate && !(def->flags & kAllowPreconfig)) {
        return Error("The command '" + std::string(r.command) +
                     "' is permitted only after machine initialization has completed");
    }
    respond = !(def->flags & kNoSuccessResponse);
    static const JsonValue kNoArguments(rapidjson::kObjectType);
    return m_invoke(session, *def, r.args ? *r.args : kNoArguments, ret);
}

std::string Dispatcher::handle(SessionState& session, const Result<Json>& request) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    if (!request) {
        write_error(w, request.error());
        w.end_object();
        return out;
    }
    const JsonValue& req = request->value();
    if (!req.IsObject()) {
        write_error(w, Error("QMP input must be a JSON object"));
        w.end_object();
        return out;
    }
    const JsonValue* id = nullptr;
    if (auto it = req.FindMember("id"); it != req.MemberEnd()) id = &it->value;

    std::string ret_text;
    JsonWriter ret(ret_text);
    bool respond = true;
    Result<void> result = run(session, req, ret, respond);
    if (result) {
        if (!respond) return {};
        w.key("return");
        w.raw(ret_text);
        if (id) {
            w.key("id");
            w.value(*id);
        }
    } else {
        if (id) {
            w.key("id");
            w.value(*id);
        }
        write_error(w, result.error());
    }
    w.end_object();
    return out;
}

}  // namespace molt::qmp
