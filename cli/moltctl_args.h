// moltctl's command line: options, the mode (one command, events, the
// command list) and the command's arguments as a JSON object.  migrate
// also takes its URI as a plain word (`migrate unix:/tmp/m.sock`, meaning
// uri=unix:/tmp/m.sock) and --progress (cli/moltctl_progress.h).
//
// This is the first stage of moltctl (cli/moltctl.cpp): argv -> Options ->
// arguments (keyval or JSON) -> typing by introspection
// (cli/moltctl_schema.h) -> QMP client (cli/moltctl_client.h) -> output
// (cli/moltctl_print.h).  KEY=VALUE words follow molt's keyval rules
// (runtime/keyval.h), so `moltctl -s S cmd a.b=1 l.0=x` means what
// `-opt a.b=1,l.0=x` means on molt's command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/json.h"
#include "runtime/result.h"

namespace molt::cli {

enum class Mode { Command, Events, Commands };

struct Options {
    bool help = false;
    bool json = false;                  // --json: raw JSON output
    std::string socket;                 // -s SOCK
    Mode mode = Mode::Command;
    std::string command;                // Mode::Command: the QMP command
    std::vector<std::string> words;     // Mode::Command: its KEY=VALUE words
    bool progress = false;              // Mode::Command, migrate only: --progress
    std::optional<uint64_t> count;      // Mode::Events: --count N (N > 0)
    std::optional<double> timeout_sec;  // Mode::Events: --timeout SEC
};

extern const char* const kMoltctlUsage;

// Parses argv; the error says what is wrong with it (the caller adds a
// hint to --help).  With --help nothing else is checked.
Result<Options> parse_options(int argc, const char* const* argv);

// A command's arguments: absent (no words), a JSON object given verbatim,
// or the keyval tree of the KEY=VALUE words (from_keyval), whose leaves
// are all strings until cli/moltctl_schema.h gives them their types.
struct Arguments {
    std::optional<Json> object;
    bool from_keyval = false;
};

// Builds the arguments from the words: one word starting with '{' is
// parsed as a JSON object; otherwise each word must be KEY=VALUE, the
// words are joined with ',' (commas in them doubled) and parsed with
// keyval_parse().  Errors: JSON or keyval parse errors, a word without
// '=', JSON that is not an object.
Result<Arguments> build_arguments(const std::vector<std::string>& words);

}  // namespace molt::cli
