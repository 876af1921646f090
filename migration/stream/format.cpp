// Out-of-line parts of the stream format (format.h): the section id rule.
#include "migration/stream/format.h"

namespace molt::migration::stream {

bool valid_section_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxSectionIdBytes) return false;
    for (char c : id) {
        if (c <= ' ' || c > '~') return false;
    }
    return true;
}

}  // namespace molt::migration::stream
