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
    "       moltctl -s SOCK [--json] migrate URI [KEY=VALUE ...] [--progress]\n"
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
    "migrate URI means migrate uri=URI.  With --progress, moltctl then follows\n"
    "the migration (query-migrate every 100 ms): a progress line (redrawn in\n"
    "place on a terminal, else a plain line at most every second) with what\n"
    "was sent and what is left, throughput, pass and expected downtime, then\n"
    "the final figures; the exit status is 0 when the migration completed and\n"
    "1 when it failed or was cancelled.  Ctrl-C cancels it (migrate_cancel).\n"
    "With --json each query-migrate reply is printed as one line of JSON.\n"
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

// A migration URI ("unix:PATH", "tcp:HOST:PORT", "exec:CMD", ...): a
// scheme before the first ':', which comes before any '=' (a KEY=VALUE
// word's key has no ':').
bool is_uri(std::string_view word) {
    size_t at = word.find_first_of(":=");
    return at != std::string_view::npos && at > 0 && word[at] == ':' && word[0] != '{';
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
        std::string_view a = argv[i];
        // No KEY=VALUE word is "--json": taken as the option, wherever it is.
        if (a == "--json") {
            o.json = true;
        } else if (a == "--progress") {
            if (o.command != "migrate") return Error("--progress is an option of migrate only");
            o.progress = true;
        } else if (o.command == "migrate" && o.words.empty() && is_uri(a)) {
            o.words.push_back("uri=" + std::string(a));
        } else {
            o.words.emplace_back(a);
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
