// parse_char_spec(): QEMU's short character-device forms for -serial and
// -qmp (stdio, null, none, file:PATH, unix:PATH,..., tcp:HOST:PORT,...).
// The options after a unix:/tcp: address are read by the generated
// CharSocketOptions visitor, so their syntax and errors are keyval's.
#include "cli/command_line.h"
#include "qapi-visit-char.h"
#include "qapi-visit-migration.h"
#include "qapi-visit-sockets.h"
#include "runtime/visit.h"

namespace molt::cli {

namespace {

// "HOST:PORT", "[V6]:PORT" or ":PORT" (any address).
Result<void> split_host_port(std::string_view addr, std::string& host, std::string& port) {
    size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos) {
        return Error("error parsing address '" + std::string(addr) + "'");
    }
    std::string_view h = addr.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    host = std::string(h);
    port = std::string(addr.substr(colon + 1));
    if (port.empty()) return Error("error parsing address '" + std::string(addr) + "'");
    return ok();
}

}  // namespace

Result<CharSpec> parse_char_spec(std::string_view text) {
    using K = CharSpec::Kind;
    CharSpec spec;
    spec.text = std::string(text);
    if (text == "stdio" || text == "mon:stdio") {
        spec.kind = K::Stdio;
    } else if (text == "null") {
        spec.kind = K::Null;
    } else if (text == "none") {
        spec.kind = K::None;
    } else if (text.substr(0, 5) == "file:") {
        spec.kind = K::File;
        spec.path = std::string(text.substr(5));
        if (spec.path.empty()) return Error("file: needs a file name");
    } else if (text.substr(0, 5) == "unix:" || text.substr(0, 4) == "tcp:") {
        bool is_unix = text[0] == 'u';
        std::string_view rest = text.substr(is_unix ? 5 : 4);
        if (rest.empty() || rest[0] == ',') {
            return Error(is_unix ? "invalid Unix socket address" : "error parsing address ''");
        }
        api::CharSocketOptions o = MOLT_TRY(from_keyval<api::CharSocketOptions>(rest, "addr"));
        spec.kind = is_unix ? K::Unix : K::Tcp;
        if (is_unix) {
            spec.path = o.addr;
        } else {
            MOLT_TRY(split_host_port(o.addr, spec.host, spec.port));
        }
        spec.server = o.server.value_or(false);
        if (o.wait && !spec.server) {
            return Error("'wait' option is incompatible with socket in client connect mode");
        }
        spec.wait = o.wait.value_or(true);
        spec.nodelay = o.nodelay.value_or(false);
    } else {
        return Error("'" + std::string(text) + "' is not a valid char driver");
    }
    return spec;
}

Result<api::MigrationAddress> parse_migration_uri(std::string_view uri) {
    api::MigrationAddress a;
    auto socket = [&](api::SocketAddressType type) -> api::SocketAddress& {
        a.transport = api::MigrationAddressType::Socket;
        api::SocketAddress& s = a.u.socket.emplace();
        s.type = type;
        return s;
    };
    if (uri.substr(0, 4) == "tcp:") {
        api::InetSocketAddress& inet = socket(api::SocketAddressType::Inet).u.inet.emplace();
        MOLT_TRY(split_host_port(uri.substr(4), inet.host, inet.port));
    } else if (uri.substr(0, 5) == "unix:") {
        std::string path(uri.substr(5));
        if (path.empty() || path.size() > 107) return Error("invalid Unix socket address");
        socket(api::SocketAddressType::Unix).u.unix_.emplace().path = path;
    } else if (uri.substr(0, 3) == "fd:") {
        std::string name(uri.substr(3));
        if (name.empty()) return Error("Invalid file descriptor number ''");
        socket(api::SocketAddressType::Fd).u.fd.emplace().str = name;
    } else if (uri.substr(0, 5) == "exec:") {
        std::string cmd(uri.substr(5));
        if (cmd.empty()) return Error("exec: needs a command");
        a.transport = api::MigrationAddressType::Exec;
        a.u.exec.emplace().args = {"/bin/sh", "-c", cmd};
    } else if (uri.substr(0, 5) == "file:") {
        std::string_view rest = uri.substr(5);
        api::FileMigrationArgs& f = a.u.file.emplace();
        a.transport = api::MigrationAddressType::File;
        size_t comma = rest.rfind(",offset=");
        if (comma != std::string_view::npos) {
            std::string_view off = rest.substr(comma + 8);
            api::FileMigrationArgs parsed =
                MOLT_TRY(from_keyval<api::FileMigrationArgs>("filename=x,offset=" + std::string(off)));
            f.offset = parsed.offset;
            rest = rest.substr(0, comma);
        }
        if (rest.empty()) return Error("file: needs a file name");
        f.filename = std::string(rest);
    } else {
        return Error("unknown migration protocol: " + std::string(uri));
    }
    MOLT_TRY(validate(a));
    return a;
}

}  // namespace molt::cli
