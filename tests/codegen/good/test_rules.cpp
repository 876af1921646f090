// The cross-member rule of the good test schema (qapi-schema-test.json).
//
// TestLimits says [[check]], so its generated validator calls
// check_rules() after checking each member's own constraints; the rule is
// handwritten here: when both are present, @min must not exceed @max.  The
// error names @max, in the "Parameter 'P' expects ..." form the generated
// checks use, so its path says where the value sat (e.g.
// "limits[1].max").
#include "test-qapi-validate.h"

namespace molt::api {

Result<void> check_rules(VisitPath& path, const TestLimits& v) {
    if (v.min && v.max && *v.min > *v.max) {
        auto scope = path.member("max");
        return path.expects("a value no less than min (" + std::to_string(*v.min) + ")");
    }
    return ok();
}

}  // namespace molt::api
