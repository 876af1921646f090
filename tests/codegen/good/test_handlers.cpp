// Placeholder handlers.
#include "test-qapi-commands.h"
namespace molt::api {
Result<TestStruct> qmp_test_cmd(qmp::Context&, TestStruct x) { return x; }
}
