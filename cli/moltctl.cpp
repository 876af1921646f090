// moltctl: a QMP client for people.
//
//   moltctl -s SOCK [--json] COMMAND [KEY=VALUE ...]    run one QMP command
//   moltctl -s SOCK [--json] migrate URI [--progress]   migrate, then follow it
//   moltctl -s SOCK [--json] events [--count N] [--timeout SEC]
//   moltctl -s SOCK [--json] commands
//
// Connects to a QMP socket (UNIX path or tcp:HOST:PORT), negotiates, and
// runs one command whose KEY=VALUE arguments are parsed by molt's keyval
// parser and typed from the server's own query-qmp-schema, so that
// `moltctl -s S migrate-set-parameters max-bandwidth=1G` sends the integer
// 1073741824.  The stages: argv (moltctl_args) -> arguments typed by
// introspection (moltctl_schema) -> QMP (moltctl_client) -> readable text
// or one line of JSON (moltctl_print); migrate --progress then follows the
// migration to its end (moltctl_progress).  Errors print "moltctl: MESSAGE" on
// stderr and exit with status 1.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/moltctl_args.h"
#include "cli/moltctl_client.h"
#include "cli/moltctl_print.h"
#include "cli/moltctl_progress.h"
#include "cli/moltctl_schema.h"

namespace {

using molt::Error;
using molt::Json;
using molt::Result;
using namespace molt::cli;

int fail(const std::string& message) {
    std::fprintf(stderr, "moltctl: %s\n", message.c_str());
    return 1;
}

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// The command's arguments, typed by the server's schema when they came
// from KEY=VALUE words.
Result<Arguments> command_arguments(QmpClient& client, const Options& o) {
    Arguments args = MOLT_TRY(build_arguments(o.words));
    if (!args.from_keyval) return args;
    Result<Json> schema = client.execute("query-qmp-schema");
    if (!schema) {
        return std::move(schema).error().with_context(
            "cannot type the arguments: query-qmp-schema");
    }
    SchemaTypes types(std::move(schema).value());
    MOLT_TRY(types.type_arguments(o.command, *args.object));
    return args;
}

Result<int> run_command(QmpClient& client, const Options& o) {
    Arguments args = MOLT_TRY(command_arguments(client, o));
    Json ret = MOLT_TRY(client.execute(o.command, args.object ? &*args.object : nullptr));
    if (o.progress) return follow_migration(client, o.json);
    print(o.json ? ret.str() + "\n" : format_readable(ret.value()));
    return 0;
}

// The names from query-commands, sorted, one per line.
Result<int> run_commands(QmpClient& client, const Options& o) {
    Json ret = MOLT_TRY(client.execute("query-commands"));
    if (o.json) {
        print(ret.str() + "\n");
        return 0;
    }
    std::vector<std::string> names;
    if (ret.value().IsArray()) {
        for (const auto& info : ret.value().GetArray()) {
            if (!info.IsObject()) continue;
            auto name = info.FindMember("name");
            if (name != info.MemberEnd() && name->value.IsString()) {
                names.emplace_back(name->value.GetString(), name->value.GetStringLength());
            }
        }
    }
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& n : names) out += n + "\n";
    print(out);
    return 0;
}

// Prints events until the connection closes (0), --count events were
// printed (0) or --timeout passed (1 if --count was not reached, else 0).
Result<int> run_events(QmpClient& client, const Options& o) {
    Deadline deadline;
    if (o.timeout_sec) {
        deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(*o.timeout_sec));
    }
    uint64_t seen = 0;
    while (!o.count || seen < *o.count) {
        Json event;
        QmpClient::Wait w = MOLT_TRY(client.next_event(deadline, event));
        if (w != QmpClient::Wait::Got) {
            if (!o.count) return 0;
            const char* why = w == QmpClient::Wait::Closed ? "connection closed" : "timed out";
            return fail(std::string(why) + " after " + std::to_string(seen) + " of " +
                        std::to_string(*o.count) + " events");
        }
        print((o.json ? event.str() : format_event(event.value())) + "\n");
        seen++;
    }
    return 0;
}

Result<int> run(const Options& o) {
    std::unique_ptr<QmpClient> client = MOLT_TRY(QmpClient::connect(o.socket));
    switch (o.mode) {
    case Mode::Command: return run_command(*client, o);
    case Mode::Events: return run_events(*client, o);
    case Mode::Commands: return run_commands(*client, o);
    }
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    Result<Options> o = parse_options(argc, argv);
    if (!o) return fail(o.error().message() + " (try --help)");
    if (o->help) {
        std::fputs(kMoltctlUsage, stdout);
        return 0;
    }
    Result<int> rc = run(*o);
    if (!rc) return fail(rc.error().message());
    return *rc;
}
