// The handwritten QMP handlers of the good test schema
// (qapi-schema-test.json and include/sub-module.json).
//
// The generated test-qapi-commands*.h declare one qmp_<command>() per
// command; the test-codegen executable defines them here, with the simple
// and deterministic behaviour each command's documentation promises (mostly
// echoing the arguments back), and a line in the Context journal
// (test_context.h) per call, so the marshaller tests can check what reached
// the handler.
#include "test-qapi-commands-include-sub-module.h"
#include "test-qapi-commands.h"
#include "test-qapi-visit.h"
#include "tests/codegen/good/test_context.h"

#include <algorithm>

namespace molt::api {

namespace {

TestTree mirror(const TestTree& t) {
    TestTree m;
    m.value = t.value;
    if (t.right) m.left = mirror(**t.right);
    if (t.left) m.right = mirror(**t.left);
    if (t.children) {
        m.children.emplace();
        for (const auto& c : *t.children) m.children->push_back(mirror(c));
    }
    return m;
}

}  // namespace

Result<TestBuiltins> qmp_test_echo_builtins(qmp::Context& ctx, const std::string& string,
                                            double number, int64_t integer, int8_t i8,
                                            int16_t i16, int32_t i32, int64_t i64, uint8_t u8,
                                            uint16_t u16, uint32_t u32, uint64_t u64,
                                            uint64_t sz, bool boolean, const Json& anything,
                                            std::nullptr_t nothing) {
    ctx.record("test-echo-builtins: " + string);
    TestBuiltins b;
    b.string = string;
    b.number = number;
    b.integer = integer;
    b.i8 = i8;
    b.i16 = i16;
    b.i32 = i32;
    b.i64 = i64;
    b.u8 = u8;
    b.u16 = u16;
    b.u32 = u32;
    b.u64 = u64;
    b.sz = sz;
    b.boolean = boolean;
    b.anything = anything;
    b.nothing = nothing;
    return b;
}

Result<TestDerived> qmp_test_command(qmp::Context& ctx, int64_t a,
                                     const std::optional<std::string>& b, TestEnum e,
                                     const std::optional<std::vector<TestBase>>& bases,
                                     const std::optional<std::string>& class_
#if defined(TEST_IF_OFF)
                                     , int64_t if_off
#endif
#if defined(TEST_IF_ON)
                                     , std::optional<int64_t> if_on
#endif
) {
    ctx.record("test-command: a=" + std::to_string(a) + " e=" + std::string(to_string(e)) +
               " if-on=" + (if_on ? std::to_string(*if_on) : "absent"));
    TestDerived d;
    d.base_int = a;
    d.base_str = b;
    d.flag = e == TestEnum::ValueTwo;
    d.nested->label = class_.value_or("none");
    d.nested->inner->base_int = if_on.value_or(-1);
    d.bases = bases;
    return d;
}

Result<TestFlatUnion> qmp_test_boxed(qmp::Context& ctx, const TestFlatUnion& arg) {
    ctx.record("test-boxed: " + to_json(arg));
    TestFlatUnion u = arg;
    if (!u.common) u.common = 42;
    return u;
}

Result<void> qmp_test_boxed_struct(qmp::Context& ctx, const TestLimits& arg) {
    ctx.record("test-boxed-struct: count=" + std::to_string(arg.count));
    return ok();
}

Result<TestConditional> qmp_test_conditional(qmp::Context& ctx, const TestConditional& arg) {
    ctx.record("test-conditional: " + to_json(arg));
    return arg;
}

Result<void> qmp_test_no_args(qmp::Context& ctx) {
    ctx.record("test-no-args");
    return ok();
}

Result<std::vector<TestBase>> qmp_test_oob(qmp::Context& ctx, int64_t count) {
    ctx.record("test-oob: " + std::to_string(count));
    std::vector<TestBase> out(static_cast<size_t>(count));
    for (size_t i = 0; i < out.size(); i++) out[i].base_int = static_cast<int64_t>(i);
    return out;
}

Result<void> qmp_test_no_gen(qmp::Context& ctx, const Json& raw) {
    ctx.record("test-no-gen: " + raw.str());
    return ok();
}

Result<void> qmp_test_no_response(qmp::Context& ctx) {
    ctx.record("test-no-response");
    return ok();
}

Result<int64_t> qmp_test_returns_int(qmp::Context& ctx, int64_t a, int64_t b) {
    ctx.record("test-returns-int");
    return a + b;
}

Result<Json> qmp_test_returns_any(qmp::Context& ctx, const Json& value) {
    ctx.record("test-returns-any");
    return value;
}

Result<std::vector<std::string>> qmp_test_returns_str_list(qmp::Context& ctx,
                                                           const std::vector<std::string>& words) {
    ctx.record("test-returns-str-list");
    std::vector<std::string> out(words.rbegin(), words.rend());
    return out;
}

Result<TestAlternates> qmp_test_alternates(qmp::Context& ctx, const Box<TestAltAll>& alt,
                                           const std::optional<Box<TestAltStrNull>>& opt) {
    ctx.record("test-alternates: branch " + std::to_string(alt->index()));
    TestAlternates out;
    out.all = alt;
    out.str_null = opt;
    return out;
}

Result<TestTree> qmp_test_tree(qmp::Context& ctx, const Box<TestTree>& tree) {
    ctx.record("test-tree: " + std::to_string(tree->value));
    return mirror(*tree);
}

Result<void> qmp_test_fail(qmp::Context& ctx, const std::string& why) {
    ctx.record("test-fail");
    return Error(why, ErrorClass::DeviceNotFound);
}

Result<void> qmp_test_deprecated(qmp::Context& ctx, std::optional<int64_t> old) {
    ctx.record("test-deprecated: old=" + (old ? std::to_string(*old) : "absent"));
    return ok();
}

Result<void> qmp_x_test_unstable(qmp::Context& ctx) {
    ctx.record("x-test-unstable");
    return ok();
}

#if defined(TEST_IF_ON) && !defined(TEST_IF_OFF)
Result<void> qmp_test_if_on(qmp::Context& ctx) {
    ctx.record("test-if-on");
    return ok();
}
#endif

Result<void> qmp_test_legacy_command(qmp::Context& ctx) {
    ctx.record("test_legacy_command");
    return ok();
}

Result<SubStruct> qmp_test_sub_command(qmp::Context& ctx, const Box<SubStruct>& value) {
    ctx.record("test-sub-command");
    SubStruct out = *value;
    out.note = "sub";
    return out;
}

}  // namespace molt::api
