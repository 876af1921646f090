// moltctl's QMP client; see moltctl_client.h.
#include "cli/moltctl_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include "runtime/socket.h"

namespace molt::cli {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

Result<UniqueFd> connect_spec(std::string_view spec) {
    if (starts_with(spec, "tcp:")) {
        std::string_view rest = spec.substr(4);
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos || colon + 1 == rest.size()) {
            return Error("invalid address '" + std::string(spec) + "' (expected tcp:HOST:PORT)");
        }
        std::string_view host = rest.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        return connect_tcp(std::string(host), std::string(rest.substr(colon + 1)));
    }
    if (starts_with(spec, "unix:")) spec = spec.substr(5);
    return connect_unix(std::string(spec));
}

// Milliseconds left until deadline for poll(): -1 for none, rounded up.
int poll_timeout(Deadline deadline) {
    if (!deadline) return -1;
    auto now = Clock::now();
    if (*deadline <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

std::string_view member_text(const JsonValue& v, const char* key) {
    auto it = v.FindMember(key);
    if (it == v.MemberEnd() || !it->value.IsString()) return {};
    return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

// The Error for an {"error": {"class": ..., "desc": ...}} reply.
Error reply_error(const JsonValue& error) {
    if (!error.IsObject()) return Error("malformed error reply from the server");
    std::string desc(member_text(error, "desc"));
    if (desc.empty()) desc = "error reply without a description";
    auto cls = member_text(error, "class") == "CommandNotFound" ? ErrorClass::CommandNotFound
                                                                 : ErrorClass::GenericError;
    return Error(std::move(desc), cls);
}

std::string request_text(std::string_view command, const Json* arguments, std::string_view id) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("execute");
    w.string(command);
    if (arguments) {
        w.key("arguments");
        w.value(arguments->value());
    }
    w.key("id");
    w.string(id);
    w.end_object();
    out += '\n';
    return out;
}

}  // namespace

QmpClient::QmpClient(UniqueFd fd)
    : m_fd(std::move(fd)),
      m_parser([this](Result<Json> message) { m_incoming.push_back(std::move(message)); }) {}

Result<std::unique_ptr<QmpClient>> QmpClient::connect(std::string_view spec) {
    UniqueFd fd = MOLT_TRY(connect_spec(spec));
    std::unique_ptr<QmpClient> client(new QmpClient(std::move(fd)));
    MOLT_TRY(client->handshake());
    return client;
}

Result<void> QmpClient::handshake() {
    Json greeting;
    Wait w = MOLT_TRY(next_message(std::nullopt, greeting));
    if (w != Wait::Got) return Error("the server closed the connection before its greeting");
    const JsonValue& g = greeting.value();
    if (!g.IsObject() || !g.HasMember("QMP")) {
        return Error("not a QMP greeting: " + greeting.str());
    }
    Result<Json> r = execute("qmp_capabilities");
    if (!r) return std::move(r).error().with_context("qmp_capabilities");
    return ok();
}

Result<QmpClient::Wait> QmpClient::fill(Deadline deadline) {
    pollfd p{m_fd.get(), POLLIN, 0};
    int n = poll(&p, 1, poll_timeout(deadline));
    if (n < 0) {
        if (errno == EINTR) return Wait::Got;
        return Error::from_errno(errno, "poll");
    }
    if (n == 0) return Wait::TimedOut;
    std::string buf(kReadChunk, '\0');
    ssize_t len = recv(m_fd.get(), buf.data(), buf.size(), 0);
    if (len < 0) {
        if (errno == EINTR || errno == EAGAIN) return Wait::Got;
        return Error::from_errno(errno, "QMP connection");
    }
    if (len == 0) {
        m_parser.flush();
        m_closed = true;
    } else {
        m_parser.feed(std::string_view(buf.data(), static_cast<size_t>(len)));
    }
    return Wait::Got;
}

// The next JSON value from the server, before deadline.
Result<QmpClient::Wait> QmpClient::next_message(Deadline deadline, Json& message) {
    while (m_incoming.empty()) {
        if (m_closed) return Wait::Closed;
        Wait w = MOLT_TRY(fill(deadline));
        if (w == Wait::TimedOut) return w;
    }
    Result<Json> r = std::move(m_incoming.front());
    m_incoming.pop_front();
    if (!r) return std::move(r).error().with_context("invalid JSON from the server");
    message = std::move(r).value();
    return Wait::Got;
}

Result<Json> QmpClient::execute(std::string_view command, const Json* arguments) {
    std::string id = "moltctl-" + std::to_string(m_next_id++);
    Result<void> sent = send_with_fds(m_fd.get(), request_text(command, arguments, id), {});
    if (!sent) return std::move(sent).error().with_context("sending to the server");
    for (;;) {
        Json msg;
        Wait w = MOLT_TRY(next_message(std::nullopt, msg));
        if (w != Wait::Got) return Error("the server closed the connection");
        const JsonValue& v = msg.value();
        if (!v.IsObject()) continue;
        if (v.HasMember("event")) {
            m_events.push_back(std::move(msg));
            continue;
        }
        // Another id is not ours; no id at all is the server's answer to
        // a request it could not read (ours, since we send nothing else).
        if (v.HasMember("id") ? member_text(v, "id") != id : !v.HasMember("error")) continue;
        if (auto ret = v.FindMember("return"); ret != v.MemberEnd()) return Json(ret->value);
        if (auto err = v.FindMember("error"); err != v.MemberEnd()) return reply_error(err->value);
        return Error("unexpected reply from the server: " + msg.str());
    }
}

Result<QmpClient::Wait> QmpClient::next_event(Deadline deadline, Json& event) {
    if (!m_events.empty()) {
        event = std::move(m_events.front());
        m_events.pop_front();
        return Wait::Got;
    }
    for (;;) {
        Wait w = MOLT_TRY(next_message(deadline, event));
        if (w != Wait::Got) return w;
        if (event.value().IsObject() && event.value().HasMember("event")) return w;
    }
}

}  // namespace molt::cli
