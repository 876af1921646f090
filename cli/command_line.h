// The command line: argv -> CommandLine, with no side effects (cli/).
//
// Options are QEMU's (`-name`, `-machine`, `-m`, `-object`, `-incoming`,
// ...), each value read by the generated keyval (or JSON) visitors of its
// schema type (schema/machine.json, net.json, char.json, migration.json),
// so a value's syntax, types, ranges and error texts are the schema's.
// Parsing creates nothing: the VMM checks what is not supported yet and
// builds the machine afterwards, so a bad command line leaves nothing
// behind.  Errors read as QEMU's: "-OPTION VALUE: message".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "migration/parameters.h"
#include "qapi-types-char.h"
#include "qapi-types-control.h"
#include "qapi-types-machine.h"
#include "qapi-types-migration.h"
#include "qapi-types-net.h"
#include "runtime/result.h"

namespace molt::cli {

// A character device as -serial and -qmp take it.
struct CharSpec {
    enum class Kind { Stdio, Null, None, File, Unix, Tcp };
    Kind kind = Kind::None;
    std::string path;          // File, Unix
    std::string host, port;    // Tcp
    bool server = false;
    bool wait = true;          // with server: wait for a client before starting
    bool nodelay = false;      // Tcp: TCP_NODELAY
    std::string text;          // as given, for messages
};
Result<CharSpec> parse_char_spec(std::string_view text);

// One -incoming.
struct IncomingSpec {
    std::string text;                  // as given, for messages
    api::MigrationChannel channel;     // main (a URI or JSON) or cpr (JSON)
};
// Parses a migration URI (tcp:HOST:PORT, unix:PATH, fd:NAME,
// file:PATH[,offset=N], exec:COMMAND) into an address.
Result<api::MigrationAddress> parse_migration_uri(std::string_view uri);

struct CommandLine {
    enum class Action { Run, Version, Help, ListHelp };
    Action action = Action::Run;
    std::string help_text;     // for ListHelp (`-machine help`, ...)

    std::optional<api::NameOptions> name;
    api::MachineOptions machine;
    std::optional<api::AccelOptions> accel;
    api::MemorySizeOptions memory;           // size always set
    api::SmpOptions smp;
    std::vector<api::ObjectOptions> objects;
    std::optional<std::string> kernel, initrd, append;
    std::vector<api::Netdev> netdevs;
    std::vector<api::DeviceOptions> devices;
    std::vector<CharSpec> serials;
    std::vector<CharSpec> monitors;          // -qmp
    std::optional<api::DisplayOptions> display;
    api::CompatPolicy compat;                // -compat

    std::vector<IncomingSpec> incoming;      // channels
    bool incoming_defer = false;
    std::optional<api::MigrationParameters> incoming_config;
    std::string incoming_config_text;
    std::vector<migration::ParameterProperty> migration_globals;

    bool start_paused = false;   // -S
    bool no_reboot = false;      // -no-reboot
    bool precreate = false;
    bool nodefaults = false;
    bool nographic = false;
    bool daemonize = false;
    std::optional<std::string> pidfile;
    bool log_backends = false;   // -d backends

    bool incoming_pending() const { return incoming_defer || !incoming.empty(); }
};

// argv[0] is the program name.  An error's message includes the option
// and value it is about.
Result<CommandLine> parse_command_line(int argc, const char* const* argv);

// The text of `molt -help`.
std::string usage_text();

}  // namespace molt::cli
