// The table of QMP commands: names, generated marshallers, flags.
//
// The generated register_commands() (qapi-init-commands.cpp) adds one entry
// per schema command with `gen` true; commands with 'gen': false are added
// by their owner by hand.  A marshaller parses the request's arguments with
// the generated input visitor, calls the handwritten qmp_<name>() handler
// and writes its return value; the QMP dispatcher (runtime/qmp) wraps that
// in {"return": ...} or turns the Error into {"error": ...}.
#pragma once

#include <string_view>
#include <vector>

#include "runtime/json.h"
#include "runtime/result.h"
#include "runtime/visit.h"

namespace molt::qmp {

// Whatever the application passes to handlers; defined by the application
// (handlers reach the machine, the migration state... through it).
class Context;

using Marshaller = Result<void> (*)(Context& ctx, const JsonValue& args,
                                    const CompatPolicy& policy, JsonWriter& ret);

// Command flags from the schema.
inline constexpr unsigned kAllowOob = 1u << 0;
inline constexpr unsigned kAllowPreconfig = 1u << 1;
inline constexpr unsigned kCoroutine = 1u << 2;
inline constexpr unsigned kNoSuccessResponse = 1u << 3;

struct CommandDef {
    std::string_view name;
    Marshaller marshal;
    unsigned flags;     // kAllowOob | ...
    unsigned special;   // kFeatureDeprecated | kFeatureUnstable
};

class CommandTable {
public:
    // Adds a command; a name may be added only once.
    void add(const CommandDef& def);
    const CommandDef* find(std::string_view name) const;
    const std::vector<CommandDef>& all() const { return m_commands; }

private:
    std::vector<CommandDef> m_commands;
};

// For marshallers of commands without arguments: args must be {}.
Result<void> expect_no_arguments(const JsonValue& args, const CompatPolicy& policy);

}  // namespace molt::qmp
