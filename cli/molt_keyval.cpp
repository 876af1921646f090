// molt-keyval: what a KEY=VALUE,... string means to molt, before a VM is
// started with it.
//
//   molt-keyval [--implied-key KEY] [--type TYPE] STRING
//   molt-keyval --list-types | --schema
//
// Without --type, STRING is parsed by the keyval parser (runtime/keyval.h)
// and printed as one line of JSON whose leaves are strings.  With --type,
// STRING is read as QEMU's qobject_input_visitor_new_str reads it (JSON if
// it starts with '{', else keyval) into the named struct or union of
// molt's schema, validated, and written back by the generated output
// visitor: `molt-keyval --type MigrationParameters 'mode=cpr-transfer'`
// checks an `-incoming config:` string.  `help` in STRING lists the
// type's members.  --schema prints the query-qmp-schema reply.
// Errors go to stderr as one line; the exit status is then 1.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "qapi-introspect.h"
#include "qapi-keyval.h"
#include "runtime/keyval.h"
#include "runtime/type_registry.h"

namespace {

constexpr const char* kUsage =
    "Usage: molt-keyval [--implied-key KEY] [--type TYPE] STRING\n"
    "       molt-keyval --list-types | --schema\n"
    "Prints what STRING (KEY=VALUE,... or, with --type, also JSON) parses to\n"
    "as one line of JSON; with --type TYPE, as the schema type TYPE.\n"
    "STRING 'help' with --type lists TYPE's members.\n";

int fail(const std::string& message) {
    std::fprintf(stderr, "molt-keyval: %s\n", message.c_str());
    return 1;
}

struct Options {
    std::string_view implied_key;
    std::string_view type;
    std::string_view text;
    bool has_text = false;
    bool list_types = false;
    bool schema = false;
};

// Returns an error message, or "" when argv is well-formed.
std::string parse_argv(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        bool takes_value = a == "--implied-key" || a == "--type";
        if (takes_value && i + 1 >= argc) return "option '" + std::string(a) + "' needs a value";
        if (a == "--implied-key") {
            o.implied_key = argv[++i];
        } else if (a == "--type") {
            o.type = argv[++i];
        } else if (a == "--list-types") {
            o.list_types = true;
        } else if (a == "--schema") {
            o.schema = true;
        } else if (a == "--") {
            if (i + 2 != argc) return "expected exactly one STRING after '--'";
            o.text = argv[++i];
            o.has_text = true;
        } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
            return "unknown option '" + std::string(a) + "'";
        } else if (o.has_text) {
            return "expected exactly one STRING";
        } else {
            o.text = a;
            o.has_text = true;
        }
    }
    if ((o.list_types || o.schema) != !o.has_text) return "expected exactly one STRING";
    return "";
}

int run(const Options& o) {
    if (o.schema) {
        std::printf("%.*s\n", static_cast<int>(molt::schema::qmp_schema_json().size()),
                    molt::schema::qmp_schema_json().data());
        return 0;
    }
    const auto& types = molt::schema::types();
    if (o.list_types) {
        for (const auto& t : types) std::printf("%.*s\n", static_cast<int>(t.name.size()), t.name.data());
        return 0;
    }
    const molt::TypeEntry* type = nullptr;
    if (!o.type.empty()) {
        type = types.find(o.type);
        if (!type) return fail("unknown type '" + std::string(o.type) + "' (see --list-types)");
    }
    bool is_json = !o.text.empty() && o.text[0] == '{';
    if (!is_json) {
        bool help = false;
        auto tree = molt::keyval_parse(o.text, o.implied_key, type ? &help : nullptr);
        if (!tree) return fail(tree.error().message());
        if (help) {
            std::fputs(molt::format_help(*type).c_str(), stdout);
            return 0;
        }
        if (!type) {
            std::printf("%s\n", tree->str().c_str());
            return 0;
        }
    } else if (!type) {
        return fail("JSON input needs --type");
    }
    auto json = type->parse(o.text, o.implied_key);
    if (!json) return fail(json.error().message());
    std::printf("%s\n", json->c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    Options o;
    std::string err = parse_argv(argc, argv, o);
    if (!err.empty()) {
        std::fprintf(stderr, "molt-keyval: %s (try --help)\n", err.c_str());
        return 1;
    }
    return run(o);
}
