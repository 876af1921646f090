// Links the API generated from the synthetic large schema and checks that
// what it compiled is whole: the introspection data parses and has QEMU's
// scale of entities, and every object type is in the keyval registry and
// parses its own empty-or-minimal input without crashing.  Exit status 0
// on success; prints the molt-tests summary line.
#include <cstdio>

#include "large-qapi-introspect.h"
#include "large-qapi-keyval.h"
#include "runtime/json.h"

int main() {
    int passed = 0, failed = 0;
    auto check = [&](bool ok, const char* what, size_t n) {
        std::printf("%s: %s (%zu)\n", ok ? "ok" : "FAIL", what, n);
        (ok ? passed : failed)++;
    };
    auto schema = molt::Json::parse(molt::schema::qmp_schema_json());
    check(schema && schema->value().IsArray(), "introspection is a JSON array",
          schema ? schema->value().Size() : 0);
    size_t entities = schema ? schema->value().Size() : 0;
    check(entities > 1000, "introspection has QEMU's scale of entities", entities);
    size_t types = 0, parsed = 0;
    for (const auto& t : molt::schema::types()) {
        types++;
        // "help" is always a help request; anything else may fail, but
        // must return (Result) rather than crash.
        auto r = t.parse("{}", {});
        parsed += r.has_value() || !r.error().message().empty();
    }
    check(types > 400, "keyval registry has every object type", types);
    check(parsed == types, "every type parses or reports an error", parsed);
    std::printf("# molt-tests: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
