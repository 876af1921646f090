// parse_command_line(); see command_line.h.  One table lists every
// option; each handler reads its value with a generated visitor.
#include "cli/command_line.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "qapi-keyval.h"
#include "qapi-visit-char.h"
#include "qapi-visit-control.h"
#include "qapi-visit-machine.h"
#include "qapi-visit-migration.h"
#include "qapi-visit-net.h"
#include "qapi-visit-sockets.h"
#include "runtime/keyval.h"
#include "runtime/type_registry.h"
#include "runtime/visit.h"

namespace molt::cli {

namespace {

using Handler = Result<void> (*)(CommandLine& cl, std::string_view arg);

struct Option {
    std::string_view name;
    bool has_arg;
    Handler handle;
    std::string_view help;
};

// `help` as an option's value: the schema type's members.
Result<bool> wants_help(CommandLine& cl, std::string_view arg, std::string_view type_name) {
    if (arg != "help" && arg != "?") return false;
    const TypeEntry* type = schema::types().find(type_name);
    MOLT_ASSERT(type != nullptr);
    cl.action = CommandLine::Action::ListHelp;
    cl.help_text = format_help(*type);
    return true;
}

template <class T>
Result<void> read_into(CommandLine& cl, std::string_view arg, std::string_view type_name,
                       std::string_view implied_key, T& out) {
    if (MOLT_TRY(wants_help(cl, arg, type_name))) return ok();
    out = MOLT_TRY(from_str<T>(arg, implied_key));
    return ok();
}

template <class T>
Result<void> append_to(CommandLine& cl, std::string_view arg, std::string_view type_name,
                       std::string_view implied_key, std::vector<T>& out) {
    if (MOLT_TRY(wants_help(cl, arg, type_name))) return ok();
    out.push_back(MOLT_TRY(from_str<T>(arg, implied_key)));
    return ok();
}

Result<void> opt_name(CommandLine& cl, std::string_view arg) {
    return read_into(cl, arg, "NameOptions", "guest", cl.name.emplace());
}

Result<void> opt_machine(CommandLine& cl, std::string_view arg) {
    if (arg == "help" || arg == "?") {
        cl.action = CommandLine::Action::ListHelp;
        cl.help_text = "Supported machines are:\n"
                       "molt                 molt's machine, current version (alias of molt-0.1)\n"
                       "molt-0.1             molt's machine, version 0.1\n";
        return ok();
    }
    api::MachineOptions m = MOLT_TRY(from_str<api::MachineOptions>(arg, "type"));
    // Later -machine options add to earlier ones, as in QEMU.
    if (m.type) cl.machine.type = m.type;
    if (m.memory_backend) cl.machine.memory_backend = m.memory_backend;
    if (m.aux_ram_share) cl.machine.aux_ram_share = m.aux_ram_share;
    if (m.dumpdtb) cl.machine.dumpdtb = m.dumpdtb;
    if (cl.machine.type && *cl.machine.type != "molt" && *cl.machine.type != "molt-0.1") {
        return Error("unsupported machine type\nUse -machine help to list supported machines");
    }
    return ok();
}

Result<void> opt_accel(CommandLine& cl, std::string_view arg) {
    return read_into(cl, arg, "AccelOptions", "accel", cl.accel.emplace());
}

// -m: a number without a unit is in MiB (QEMU's qemu_strtosz_MiB).
Result<void> opt_m(CommandLine& cl, std::string_view arg) {
    if (MOLT_TRY(wants_help(cl, arg, "MemorySizeOptions"))) return ok();
    Json tree = MOLT_TRY(keyval_parse(arg, "size"));
    auto it = tree.value().FindMember("size");
    if (it != tree.value().MemberEnd() && it->value.IsString()) {
        std::string size(it->value.GetString(), it->value.GetStringLength());
        bool hex = size.size() > 2 && size[0] == '0' && (size[1] == 'x' || size[1] == 'X');
        bool unitless = !size.empty() && (hex ? size.find_first_not_of("0123456789abcdefABCDEF", 2)
                                              : size.find_first_not_of("0123456789")) ==
                                             std::string::npos;
        if (unitless) {
            errno = 0;
            unsigned long long mib = std::strtoull(size.c_str(), nullptr, hex ? 16 : 10);
            if (errno != 0 || mib > (~0ull >> 20)) {
                return Error("Parameter 'size' expects a non-negative number below 2^64");
            }
            size = std::to_string(mib << 20);
            it->value.SetString(size.data(), static_cast<rapidjson::SizeType>(size.size()),
                                tree.allocator());
        }
    }
    Input in(InputMode::Keyval);
    api::MemorySizeOptions m{};
    MOLT_TRY(api::visit_in_MemorySizeOptions(in, tree.value(), m));
    if (m.size) cl.memory.size = m.size;
    if (m.slots) cl.memory.slots = m.slots;
    if (m.maxmem) cl.memory.maxmem = m.maxmem;
    return ok();
}

Result<void> opt_smp(CommandLine& cl, std::string_view arg) {
    return read_into(cl, arg, "SmpOptions", "cpus", cl.smp);
}

Result<void> opt_object(CommandLine& cl, std::string_view arg) {
    return append_to(cl, arg, "ObjectOptions", "qom-type", cl.objects);
}

Result<void> opt_netdev(CommandLine& cl, std::string_view arg) {
    return append_to(cl, arg, "Netdev", "type", cl.netdevs);
}

bool valid_mac(std::string_view mac) {
    if (mac.size() != 17) return false;
    for (size_t i = 0; i < mac.size(); ++i) {
        bool colon = i % 3 == 2;
        if (colon ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i]))) {
            return false;
        }
    }
    return true;
}

Result<void> opt_device(CommandLine& cl, std::string_view arg) {
    MOLT_TRY(append_to(cl, arg, "DeviceOptions", "driver", cl.devices));
    if (cl.action == CommandLine::Action::ListHelp) return ok();
    const api::DeviceOptions& d = cl.devices.back();
    if (d.driver == api::DeviceDriver::VirtioNetDevice) {
        const auto& net = *d.u.virtio_net_device;
        if (net.mac && !valid_mac(*net.mac)) {
            return Error("Property 'virtio-net-device.mac' doesn't take value '" + *net.mac + "'");
        }
    }
    return ok();
}

Result<void> opt_string(std::optional<std::string>& out, std::string_view arg) {
    out = std::string(arg);
    return ok();
}

Result<void> opt_kernel(CommandLine& cl, std::string_view arg) { return opt_string(cl.kernel, arg); }
Result<void> opt_initrd(CommandLine& cl, std::string_view arg) { return opt_string(cl.initrd, arg); }
Result<void> opt_append(CommandLine& cl, std::string_view arg) { return opt_string(cl.append, arg); }
Result<void> opt_pidfile(CommandLine& cl, std::string_view arg) {
    if (arg.empty()) return Error("the pid file name must not be empty");
    return opt_string(cl.pidfile, arg);
}

Result<void> opt_serial(CommandLine& cl, std::string_view arg) {
    cl.serials.push_back(MOLT_TRY(parse_char_spec(arg)));
    return ok();
}

Result<void> opt_qmp(CommandLine& cl, std::string_view arg) {
    CharSpec spec = MOLT_TRY(parse_char_spec(arg));
    using K = CharSpec::Kind;
    if (spec.kind == K::Null || spec.kind == K::None || spec.kind == K::File) {
        return Error("a QMP monitor needs stdio, unix: or tcp:");
    }
    if ((spec.kind == K::Unix || spec.kind == K::Tcp) && !spec.server) {
        return Error("connecting out to a QMP client is not yet supported; use server=on");
    }
    cl.monitors.push_back(std::move(spec));
    return ok();
}

Result<void> opt_display(CommandLine& cl, std::string_view arg) {
    return read_into(cl, arg, "DisplayOptions", "type", cl.display.emplace());
}

Result<void> opt_compat(CommandLine& cl, std::string_view arg) {
    return read_into(cl, arg, "CompatPolicy", {}, cl.compat);
}

Result<void> opt_global(CommandLine& cl, std::string_view arg) {
    api::GlobalProperty g{};
    if (arg.substr(0, 7) == "driver=") {
        g = MOLT_TRY(from_keyval<api::GlobalProperty>(arg));
    } else {
        size_t dot = arg.find('.');
        size_t eq = arg.find('=');
        if (dot == std::string_view::npos || eq == std::string_view::npos || eq < dot) {
            return Error("Invalid -global format: expected DRIVER.PROPERTY=VALUE");
        }
        g.driver = std::string(arg.substr(0, dot));
        g.property = std::string(arg.substr(dot + 1, eq - dot - 1));
        g.value = std::string(arg.substr(eq + 1));
    }
    if (g.driver != "migration") {
        return Error("can't apply global " + g.driver + "." + g.property + "=" + g.value +
                     ": driver '" + g.driver + "' not found");
    }
    cl.migration_globals.push_back({g.property, g.value});
    return ok();
}

Result<void> opt_incoming(CommandLine& cl, std::string_view arg) {
    if (arg == "defer") {
        cl.incoming_defer = true;
    } else if (arg.substr(0, 7) == "config:") {
        if (cl.incoming_config) return Error("Only one -incoming config:* is allowed.");
        cl.incoming_config = MOLT_TRY(from_str<api::MigrationParameters>(arg.substr(7)));
        cl.incoming_config_text = std::string(arg);
        return ok();
    } else {
        IncomingSpec spec;
        spec.text = std::string(arg);
        if (!arg.empty() && arg[0] == '{') {
            spec.channel = MOLT_TRY(from_str<api::MigrationChannel>(arg));
        } else {
            spec.channel.channel_type = api::MigrationChannelType::Main;
            spec.channel.addr = MOLT_TRY(parse_migration_uri(arg));
        }
        for (const auto& other : cl.incoming) {
            if (other.channel.channel_type == spec.channel.channel_type) {
                return Error("only one " + std::string(to_string(spec.channel.channel_type)) +
                             " channel may be given with -incoming");
            }
        }
        if (spec.channel.channel_type == api::MigrationChannelType::Cpr) {
            const api::MigrationAddress& a = *spec.channel.addr;
            if (a.transport != api::MigrationAddressType::Socket ||
                a.u.socket->type != api::SocketAddressType::Unix) {
                return Error("the cpr channel must be a UNIX socket");
            }
        }
        cl.incoming.push_back(std::move(spec));
    }
    for (const auto& s : cl.incoming) {
        if (cl.incoming_defer && s.channel.channel_type == api::MigrationChannelType::Main) {
            return Error("-incoming defer and a main channel cannot be combined");
        }
    }
    return ok();
}

// -d ITEM,...: what to log on stderr.
Result<void> opt_d(CommandLine& cl, std::string_view arg) {
    if (arg == "help" || arg == "?") {
        cl.action = CommandLine::Action::ListHelp;
        cl.help_text = "Log items (comma separated):\n"
                       "backends   how each backend is created (new, adopted...)\n";
        return ok();
    }
    while (!arg.empty()) {
        size_t comma = arg.find(',');
        std::string_view item = arg.substr(0, comma);
        if (item == "backends") {
            cl.log_backends = true;
        } else {
            return Error("unknown log item '" + std::string(item) + "' (-d help lists them)");
        }
        arg = comma == std::string_view::npos ? std::string_view() : arg.substr(comma + 1);
    }
    return ok();
}

Result<void> flag_S(CommandLine& cl, std::string_view) { cl.start_paused = true; return ok(); }
Result<void> flag_precreate(CommandLine& cl, std::string_view) { cl.precreate = true; return ok(); }
Result<void> flag_no_reboot(CommandLine& cl, std::string_view) { cl.no_reboot = true; return ok(); }
Result<void> flag_nodefaults(CommandLine& cl, std::string_view) { cl.nodefaults = true; return ok(); }
Result<void> flag_daemonize(CommandLine& cl, std::string_view) { cl.daemonize = true; return ok(); }
Result<void> flag_nographic(CommandLine& cl, std::string_view) {
    cl.nographic = true;
    return ok();
}
Result<void> flag_version(CommandLine& cl, std::string_view) {
    cl.action = CommandLine::Action::Version;
    return ok();
}
Result<void> flag_help(CommandLine& cl, std::string_view) {
    cl.action = CommandLine::Action::Help;
    return ok();
}

constexpr Option kOptions[] = {
    {"name", true, opt_name, "[guest=]NAME[,process=NAME]  name the VM"},
    {"machine", true, opt_machine, "[type=]molt[,memory-backend=ID][,aux-ram-share=on|off][,dumpdtb=FILE]"},
    {"M", true, opt_machine, "same as -machine"},
    {"accel", true, opt_accel, "[accel=]kvm|tcg  the accelerator"},
    {"m", true, opt_m, "[size=]SIZE  guest RAM (a plain number is MiB)"},
    {"smp", true, opt_smp, "[cpus=]N[,maxcpus=,sockets=,cores=,threads=]"},
    {"object", true, opt_object, "memory-backend-{ram,memfd,file},id=ID,size=SIZE[,share=on|off]..."},
    {"kernel", true, opt_kernel, "FILE  guest kernel"},
    {"initrd", true, opt_initrd, "FILE  initial ramdisk"},
    {"append", true, opt_append, "CMDLINE  kernel command line"},
    {"netdev", true, opt_netdev, "tap,id=ID[,ifname=NAME][,fd=FD][,vnet_hdr=on|off]"},
    {"device", true, opt_device, "virtio-net-device,netdev=ID[,mac=MAC][,id=ID]"},
    {"serial", true, opt_serial, "stdio|null|none|file:PATH|{unix:PATH|tcp:HOST:PORT}[,server=on]"},
    {"qmp", true, opt_qmp, "unix:PATH,server=on[,wait=off]|tcp:HOST:PORT,server=on[,wait=off]|stdio"},
    {"incoming", true, opt_incoming, "URI|defer|CHANNEL-JSON|config:KEY=VALUE,...  (repeatable)"},
    {"compat", true, opt_compat, "[deprecated|unstable]-[input=accept|reject|crash|output=accept|hide],..."},
    {"global", true, opt_global, "migration.PARAMETER=VALUE"},
    {"S", false, flag_S, "do not start the vCPUs (wait for 'cont')"},
    {"no-reboot", false, flag_no_reboot, "exit instead of rebooting when the guest resets"},
    {"precreate", false, flag_precreate, "serve QMP before creating backends, until precreate-exit"},
    {"nodefaults", false, flag_nodefaults, "no default devices"},
    {"nographic", false, flag_nographic, "no display; serial on stdio by default"},
    {"display", true, opt_display, "none"},
    {"daemonize", false, flag_daemonize, "run in the background once started"},
    {"pidfile", true, opt_pidfile, "FILE  write the process id to FILE"},
    {"d", true, opt_d, "ITEM,...  log items on stderr (-d help lists them)"},
    {"version", false, flag_version, "print the version and exit"},
    {"help", false, flag_help, "print this help and exit"},
    {"h", false, flag_help, "same as -help"},
};

const Option* find_option(std::string_view name) {
    for (const Option& o : kOptions) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

}  // namespace

std::string usage_text() {
    std::string out = "usage: molt [options]\n\n";
    for (const Option& o : kOptions) {
        std::string head = "-" + std::string(o.name);
        out += head;
        out += std::string(head.size() < 12 ? 12 - head.size() : 1, ' ');
        out += o.help;
        out += '\n';
    }
    out += "\nOption values follow QEMU's KEY=VALUE,... syntax; VALUE 'help' lists an option's keys.\n";
    return out;
}

Result<CommandLine> parse_command_line(int argc, const char* const* argv) {
    CommandLine cl;
    cl.memory.size = uint64_t{128} << 20;
    for (int i = 1; i < argc; ++i) {
        std::string_view word = argv[i];
        if (word.size() < 2 || word[0] != '-') {
            return Error(std::string(word) + ": molt takes no positional arguments (disk images are not supported)");
        }
        std::string_view name = word.substr(word[1] == '-' ? 2 : 1);
        const Option* opt = find_option(name);
        if (!opt) return Error(std::string(word) + ": invalid option");
        std::string_view arg;
        std::string where = std::string(word);
        if (opt->has_arg) {
            if (i + 1 >= argc) return Error(where + ": requires an argument");
            arg = argv[++i];
            where += " " + std::string(arg);
        }
        Result<void> r = opt->handle(cl, arg);
        if (!r) return Error(where + ": " + r.error().message());
        if (cl.action != CommandLine::Action::Run) return cl;
    }
    return cl;
}

}  // namespace molt::cli
