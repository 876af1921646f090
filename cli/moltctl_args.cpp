// moltctl's command line and the arguments of its QMP command; see
// moltctl_args.h.
#include "cli/moltctl_args.h"

#include <string_view>

#include "runtime/coerce.h"
#include "runtime/keyval.h"

namespace molt::cli {

const char* const kMoltctlUsage =
    "Usage: moltctl -s SOCK [--json] COMMAND [KEY=VALUE ...]\n"
    "       moltctl -s SOCK [--json] COMMAND '{JSON arguments}'\n"
    "       moltctl -s SOCK [--json] events [--count N] [--timeout SEC]\n"
    "       moltctl -s SOCK [--json] commands\n"
    "       moltctl --help\n"
    "\n"
    "A QMP client for people: connects to molt's (or QEMU's) QMP socket,\n"
    "negotiates capabilities and runs one command.\n"
    "\n"
    "  -s, --socket SOCK  a UNIX socket path, or tcp:HOST:PORT\n"
    "  --json             print the reply's return value (or each event) as\n"
    "                     one line of JSON instead of readable text\n"
    "  -h, --help         print this help\n"
    "\n"
    "KEY=VALUE words follow molt's keyval rules (dotted keys a.b=x, list\n"
    "items l.0=x, a literal comma in a value is just a comma); the values\n"
    "are converted to the types the server's query-qmp-schema gives the\n"
    "command's arguments (integers take k/M/G/T suffixes, booleans\n"
    "on/off/yes/no/true/false).  A single argument starting with '{' is sent\n"
    "as the arguments object verbatim.\n"
    "\n"
    "events prints each event as 'SECONDS.MICROSECONDS EVENT key=value ...'\n"
    "until the connection closes, N events were seen (--count) or SEC\n"
    "seconds passed (--timeout; exit status 1 if fewer than N arrived).\n"
    "commands lists the commands the server has.\n"
    "\n"
    "Errors go to stderr as 'moltctl: MESSAGE'; the exit status is then 1.\n";

namespace {

// The value of an option that takes one: "--opt VALUE" or "--opt=VALUE".
// Returns false (error set) when it is missing.
bool option_value(int argc, const char* const* argv, int& i, std::string_view name,
                  std::string& value, std::string& error) {
    std::string_view a = argv[i];
    if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
        value = std::string(a.substr(name.size() + 1));
        return true;
    }
    if (i + 1 >= argc) {
        error = "option '" + std::string(name) + "' needs a value";
        return false;
    }
    value = argv[++i];
    return true;
}

bool is_option(std::string_view a, std::string_view name) {
    return a == name || (a.size() > name.size() && a.substr(0, name.size()) == name &&
                         a[name.size()] == '=' && name.substr(0, 2) == "--");
}

Result<void> parse_event_options(int argc, const char* const* argv, int i, Options& o) {
    std::string error;
    std::string value;
    for (; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--json") {
            o.json = true;
        } else if (is_option(a, "--count")) {
            if (!option_value(argc, argv, i, "--count", value, error)) return Error(error);
            auto n = parse_int64(value);
            if (!n || *n <= 0) return Error("--count expects a positive integer, not '" + value + "'");
            o.count = static_cast<uint64_t>(*n);
        } else if (is_option(a, "--timeout")) {
            if (!option_value(argc, argv, i, "--timeout", value, error)) return Error(error);
            auto sec = parse_number(value);
            if (!sec || *sec < 0) return Error("--timeout expects seconds, not '" + value + "'");
            o.timeout_sec = *sec;
        } else {
            return Error("events: unexpected argument '" + std::string(a) + "'");
        }
    }
    return ok();
}

// The arguments after COMMAND.
Result<void> parse_command_words(int argc, const char* const* argv, int i, Options& o) {
    if (o.command == "events") {
        o.mode = Mode::Events;
        return parse_event_options(argc, argv, i, o);
    }
    if (o.command == "commands") {
        o.mode = Mode::Commands;
        if (i < argc) return Error("commands: unexpected argument '" + std::string(argv[i]) + "'");
        return ok();
    }
    for (; i < argc; i++) {
        // No KEY=VALUE word is "--json": taken as the option, wherever it is.
        if (std::string_view(argv[i]) == "--json") {
            o.json = true;
        } else {
            o.words.emplace_back(argv[i]);
        }
    }
    return ok();
}

}  // namespace

Result<Options> parse_options(int argc, const char* const* argv) {
    Options o;
    std::string error;
    int i = 1;
    for (; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            o.help = true;
            return o;
        }
        if (a == "--json") {
            o.json = true;
        } else if (a == "-s" || is_option(a, "--socket")) {
            if (!option_value(argc, argv, i, a == "-s" ? "-s" : "--socket", o.socket, error)) {
                return Error(error);
            }
        } else if (a.size() > 1 && a[0] == '-') {
            return Error("unknown option '" + std::string(a) + "'");
        } else {
            break;
        }
    }
    if (i >= argc) return Error("no command given");
    o.command = argv[i];
    MOLT_TRY(parse_command_words(argc, argv, i + 1, o));
    if (o.socket.empty()) return Error("no QMP socket given (-s SOCK)");
    return o;
}

Result<Arguments> build_arguments(const std::vector<std::string>& words) {
    Arguments args;
    if (words.empty()) return args;
    if (words.size() == 1 && !words[0].empty() && words[0][0] == '{') {
        Result<Json> parsed = Json::parse(words[0]);
        if (!parsed) return std::move(parsed).error().with_context("JSON arguments");
        Json object = std::move(parsed).value();
        if (!object.value().IsObject()) return Error("JSON arguments must be an object");
        args.object = std::move(object);
        return args;
    }
    std::string text;
    for (const std::string& w : words) {
        if (w.find('=') == std::string::npos) {
            return Error("argument '" + w + "' is not KEY=VALUE");
        }
        if (!text.empty()) text += ',';
        for (char c : w) {
            text += c;
            if (c == ',') text += ',';  // keyval's escape for a literal comma
        }
    }
    args.object = MOLT_TRY(keyval_parse(text));
    args.from_keyval = true;
    return args;
}

}  // namespace molt::cli
