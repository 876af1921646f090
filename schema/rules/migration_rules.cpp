// Cross-member rules of schema/migration.json ([[check]] annotations).
//
// The generated validators check each member's own range; rules that
// relate members to each other live here, as QEMU's migrate_params_check
// does, with its messages.  Only members present are related, so that a
// partial update is checked against itself; the merged set is checked
// again as a whole before it takes effect.
#include "qapi-validate-migration.h"

namespace molt::api {

Result<void> check_rules(VisitPath& path, const MigrationParameters& p) {
    if (p.max_cpu_throttle && p.cpu_throttle_initial &&
        *p.max_cpu_throttle < *p.cpu_throttle_initial) {
        auto scope = path.member("max-cpu-throttle");
        return path.expects("an integer in the range of cpu-throttle-initial to 99");
    }
    return ok();
}

}  // namespace molt::api
