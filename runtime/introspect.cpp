// render_introspection; see introspect.h.
#include "runtime/introspect.h"

#include "runtime/json.h"

namespace molt {

std::string render_introspection(const IntrospectOp* ops, size_t count, bool hide_deprecated) {
    std::string out;
    JsonWriter w(out);
    int skipping = 0;  // depth of hidden deprecated brackets
    for (size_t i = 0; i < count; i++) {
        const IntrospectOp& op = ops[i];
        if (op.op == '(') {
            if (hide_deprecated || skipping) skipping++;
            continue;
        }
        if (op.op == ')') {
            if (skipping) skipping--;
            continue;
        }
        if (skipping) continue;
        switch (op.op) {
        case '{': w.begin_object(); break;
        case '}': w.end_object(); break;
        case '[': w.begin_array(); break;
        case ']': w.end_array(); break;
        case 'k': w.key(op.text); break;
        case 's': w.string(op.text); break;
        case 't': w.boolean(true); break;
        case 'n': w.null(); break;
        default: MOLT_ASSERT(false);
        }
    }
    return out;
}

}  // namespace molt
