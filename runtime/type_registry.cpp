// TypeRegistry lookups and help formatting; see type_registry.h.
#include "runtime/type_registry.h"

namespace molt {

const TypeEntry* TypeRegistry::find(std::string_view name) const {
    for (const auto& t : *this) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::string format_help(const TypeEntry& type) {
    std::string out(type.name);
    out += " options:\n";
    for (size_t i = 0; i < type.member_count; i++) {
        const MemberHelp& m = type.members[i];
        std::string line = "  " + std::string(m.name) + "=<" + std::string(m.type);
        if (m.enum_values) {
            const EnumLookup& values = m.enum_values();
            for (int v = 0; v < values.count; v++) {
                if (v) line += '|';
                line += values.name(v);
            }
        }
        line += '>';
        if (line.size() < 32) line.append(32 - line.size(), ' ');
        line += " -";
        if (!m.optional) line += " (required)";
        if (!m.when.empty()) line += " (when " + std::string(m.when) + ")";
        if (!m.summary.empty()) line += " " + std::string(m.summary);
        if (!m.extra.empty()) line += " (" + std::string(m.extra) + ")";
        out += line + "\n";
    }
    return out;
}

}  // namespace molt
