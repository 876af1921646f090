// The section version rule (section_version.h).
#include "migration/stream/section_version.h"

#include <string>

namespace molt::migration::stream {

Result<void> check_section_version(const SectionInfo& s, SupportedVersions loader) {
    const std::string name = "section '" + s.id + "': ";
    const std::string version = std::to_string(s.version);
    if (s.min_version > s.version) {
        return Error(name + "min_version " + std::to_string(s.min_version) +
                     " is above its version " + version);
    }
    if (s.min_version > loader.current) {
        if (s.min_version == s.version) {
            return Error(name + "version " + version + " is newer than this molt supports (" +
                         std::to_string(loader.current) + ")");
        }
        return Error(name + "version " + version + " needs at least version " +
                     std::to_string(s.min_version) + ", this molt supports " +
                     std::to_string(loader.current));
    }
    if (s.version < loader.oldest) {
        return Error(name + "version " + version + " is older than this molt supports (" +
                     std::to_string(loader.oldest) + " and later)");
    }
    return ok();
}

}  // namespace molt::migration::stream
