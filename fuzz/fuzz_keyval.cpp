// Fuzz target "keyval" (fuzz/README.md): text as the command line reads
// it - the keyval parser (runtime/keyval), the generated typed visitors
// and validators of every schema struct and union (qapi-keyval's type
// registry, JSON or keyval input as molt-keyval takes it), the whole
// command-line parser (cli/) with the migration parameter store built from
// what it parsed, and the -serial/-qmp and migration URI parsers.
//
// The first byte picks the stage; the rest is text:
//   'k' IMPLIED-KEY '\n' TEXT     keyval_parse (with and without the implied
//                                 key, help allowed or not) and keyval_merge
//                                 of the result into itself
//   't' TYPE '\n' TEXT            TYPE's parse (any other TYPE: the type at
//                                 index TYPE's first byte)
//   'c' ARG '\0' ARG ...          parse_command_line(molt ARG...), then
//                                 ParameterStore::create from it
//   'u' TEXT                      parse_migration_uri and parse_char_spec
// Any other first byte: one of the stages by its value, on the rest.
// Every Error is fine; a crash, a leak or undefined behaviour is not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_line.h"
#include "migration/parameters.h"
#include "qapi-keyval.h"
#include "runtime/keyval.h"
#include "runtime/type_registry.h"

namespace {

using namespace molt;

// Splits "HEAD\nREST" (no newline: HEAD is empty, all is REST).
std::pair<std::string_view, std::string_view> split_head(std::string_view s) {
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos) return {{}, s};
    return {s.substr(0, nl), s.substr(nl + 1)};
}

void fuzz_keyval(std::string_view s) {
    auto [implied, text] = split_head(s);
    bool help = false;
    Result<Json> with_key = keyval_parse(text, implied, &help);
    Result<Json> plain = keyval_parse(text);
    if (with_key && plain) {
        Json merged = std::move(*with_key);
        (void)keyval_merge(merged, plain->value());
        (void)merged.str();
    }
}

void fuzz_type(std::string_view s) {
    auto [name, text] = split_head(s);
    const TypeRegistry& types = schema::types();
    const TypeEntry* type = types.find(name);
    size_t count = static_cast<size_t>(types.end() - types.begin());
    if (!type && count > 0) {
        size_t index = name.empty() ? 0 : static_cast<uint8_t>(name[0]) % count;
        type = types.begin() + index;
    }
    if (!type) return;
    bool help = false;
    if (text.empty() || text[0] != '{') {
        Result<Json> tree = keyval_parse(text, {}, &help);
        if (tree && help) {
            (void)format_help(*type);
            return;
        }
    }
    Result<std::string> json = type->parse(text, {});
    // What the output visitor wrote must read back as the same value.
    if (json) {
        Result<std::string> again = type->parse(*json, {});
        if (!again || *again != *json) __builtin_trap();
    }
}

void fuzz_command_line(std::string_view s) {
    std::vector<std::string> args{"molt"};
    size_t start = 0;
    while (start <= s.size() && args.size() < 64) {
        size_t end = s.find('\0', start);
        if (end == std::string_view::npos) end = s.size();
        args.emplace_back(s.substr(start, end - start));
        start = end + 1;
    }
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    Result<cli::CommandLine> cl = cli::parse_command_line(static_cast<int>(args.size()), argv.data());
    if (!cl) return;
    const api::MigrationParameters* config = cl->incoming_config ? &*cl->incoming_config : nullptr;
    (void)migration::ParameterStore::create({}, cl->migration_globals, config);
}

void fuzz_uri(std::string_view s) {
    (void)cli::parse_migration_uri(s);
    (void)cli::parse_char_spec(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0]) {
    case 'k': fuzz_keyval(rest); break;
    case 't': fuzz_type(rest); break;
    case 'c': fuzz_command_line(rest); break;
    case 'u': fuzz_uri(rest); break;
    default:
        switch (data[0] % 4) {
        case 0: fuzz_keyval(rest); break;
        case 1: fuzz_type(rest); break;
        case 2: fuzz_command_line(rest); break;
        default: fuzz_uri(rest); break;
        }
    }
    return 0;
}
