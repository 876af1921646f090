// CommandTable; see command_table.h.
#include "runtime/command_table.h"

namespace molt::qmp {

void CommandTable::add(const CommandDef& def) {
    MOLT_ASSERT(find(def.name) == nullptr);
    m_commands.push_back(def);
}

const CommandDef* CommandTable::find(std::string_view name) const {
    for (const auto& c : m_commands) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

Result<void> expect_no_arguments(const JsonValue& args, const CompatPolicy& policy) {
    Input in(InputMode::Json, policy);
    auto obj = MOLT_TRY(in.begin_object(args));
    return in.end_object(obj);
}

}  // namespace molt::qmp
