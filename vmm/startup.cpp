// Start-up steps; see startup.h.
#include "vmm/startup.h"

#include "runtime/fault_inject.h"
#include "vmm/migration_control.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <array>
#include <climits>
#include <cstdlib>
#include <set>

namespace molt::vmm {

namespace {

// Machine compat properties for the migration object, per machine type:
// what an older machine version needs to stay migration-compatible.
// molt-0.1 is the first version, so none yet.
std::vector<migration::ParameterProperty> machine_compat(const std::string&) {
    return {};
}

Error not_yet(const std::string& where, const std::string& what) {
    return Error(where + ": " + what + " is not supported yet by this molt");
}

}  // namespace

Result<void> check_supported(const cli::CommandLine& cl) {
    using K = cli::CharSpec::Kind;
    if ((cl.initrd || cl.append) && !cl.kernel) {
        return Error(cl.initrd ? "-initrd only allowed with -kernel option"
                               : "-append only allowed with -kernel option");
    }
    std::set<std::string> netdevs, used;
    for (const auto& n : cl.netdevs) {
        const api::NetdevTapOptions& t = *n.u.tap;
        for (const auto* script : {&t.script, &t.downscript}) {
            if (*script && **script != "no") {
                return not_yet("-netdev " + n.id, "running scripts (use script=no,downscript=no)");
            }
        }
        if (t.vnet_hdr && !*t.vnet_hdr) return not_yet("-netdev " + n.id, "vnet_hdr=off");
        if (t.fd && t.ifname) return Error("-netdev " + n.id + ": ifname= and fd= exclude each other");
        if (!netdevs.insert(n.id).second) return Error("-netdev " + n.id + ": Duplicate ID '" + n.id + "' for netdev");
    }
    for (const auto& d : cl.devices) {
        const std::string& nd = d.u.virtio_net_device->netdev;
        if (!netdevs.count(nd)) {
            return Error("-device virtio-net-device: Property 'virtio-net-device.netdev' can't find value '" + nd + "'");
        }
        if (!used.insert(nd).second) {
            return Error("-device virtio-net-device: Property 'virtio-net-device.netdev' can't take value '" + nd + "', it's in use");
        }
    }
    bool qmp_stdio = false;
    for (const auto& m : cl.monitors) qmp_stdio = qmp_stdio || m.kind == K::Stdio;
    if (qmp_stdio && serial_is_stdio(cl)) return Error("cannot use stdio by multiple character devices");
    if (cl.serials.size() > 1) return Error("-serial " + cl.serials[1].text + ": only one serial port (COM1) exists");
    if (cl.accel && cl.accel->accel == api::AccelType::Kvm) {
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            return Error::from_errno(errno, "-accel kvm: Could not access KVM kernel module");
        }
        close(fd);
    }
    if (cl.smp.cpus && cl.smp.maxcpus && *cl.smp.maxcpus < *cl.smp.cpus) {
        return Error("-smp: Invalid CPU topology: maxcpus must be equal to or greater than smp");
    }
    uint64_t size = *cl.memory.size;
    if (cl.memory.maxmem && *cl.memory.maxmem != size) {
        if (*cl.memory.maxmem < size) {
            return Error("-m: invalid value of maxmem: maximum memory size must be at least "
                         "the initial memory size");
        }
        return not_yet("-m maxmem", "memory hotplug");
    }
    std::set<std::string> ids;
    for (const auto& o : cl.objects) {
        if (!ids.insert(o.id).second) {
            return Error("-object " + o.id + ": attempt to add duplicate object id '" + o.id + "'");
        }
    }
    if (cl.machine.memory_backend && !ids.count(*cl.machine.memory_backend)) {
        return Error("-machine memory-backend=" + *cl.machine.memory_backend +
                     ": Memory backend '" + *cl.machine.memory_backend + "' not found");
    }
    return ok();
}

Result<migration::ParameterStore> build_parameters(const cli::CommandLine& cl) {
    auto compat = machine_compat(cl.machine.type.value_or("molt"));
    const api::MigrationParameters* config = cl.incoming_config ? &*cl.incoming_config : nullptr;
    Result<migration::ParameterStore> store =
        migration::ParameterStore::create(compat, cl.migration_globals, config);
    if (!store && config) return Error(store.error()).with_context("-incoming " + cl.incoming_config_text);
    if (!store) return store;
    // Started by cpr-exec (the old molt left its CPR state in the
    // environment): an incoming cpr-exec, unless -incoming config: says
    // otherwise.
    if (std::getenv(migration::kCprExecEnv) && cl.incoming_pending() && !(config && config->mode)) {
        api::MigrationParameters mode{};
        mode.mode = api::MigMode::CprExec;
        MOLT_TRY(store->set(mode));
    }
    return store;
}

Result<Daemon> Daemon::start(bool daemonize) {
    if (!daemonize) return Daemon(UniqueFd());
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "-daemonize: pipe");
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = fork();
    if (pid < 0) return Error::from_errno(errno, "-daemonize: fork");
    if (pid > 0) {
        wr.reset();
        char status = 1;
        ssize_t n;
        do {
            n = read(rd.get(), &status, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 ? status : 1);
    }
    setsid();
    return Daemon(std::move(wr));
}

void Daemon::ready() {
    if (!m_ready_pipe) return;
    char status = 0;
    (void)!write(m_ready_pipe.get(), &status, 1);
    m_ready_pipe.reset();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        for (int fd : {0, 1, 2}) dup2(null, fd);
        close(null);
    }
}

Result<PidFile> PidFile::create(const std::optional<std::string>& path) {
    PidFile p;
    if (!path) return p;
    // Owner-only, as QEMU's qemu_write_pidfile (S_IRUSR | S_IWUSR).
    UniqueFd fd(open(path->c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno(errno, "cannot create PID file " + *path);
    if (lockf(fd.get(), F_TLOCK, 0) != 0) {
        return Error::from_errno(errno, "cannot create PID file: Cannot lock pid file");
    }
    std::string text = std::to_string(getpid()) + "\n";
    if (ftruncate(fd.get(), 0) != 0 ||
        write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        int err = errno;
        unlink(path->c_str());
        return Error::from_errno(err, "cannot write PID file " + *path);
    }
    p.m_path = *path;
    p.m_fd = std::move(fd);
    return p;
}

PidFile::PidFile(PidFile&& other) noexcept
    : m_path(std::move(other.m_path)), m_fd(std::move(other.m_fd)) {
    other.m_path.clear();
}

PidFile::~PidFile() {
    if (!m_path.empty()) unlink(m_path.c_str());
}

Result<void> start_monitors(const cli::CommandLine& cl, qmp::Server& server) {
    using K = cli::CharSpec::Kind;
    for (const auto& m : cl.monitors) {
        Result<void> r = ok();
        if (m.kind == K::Stdio) {
            if (cl.daemonize) return Error("-qmp stdio: not possible with -daemonize");
            r = server.attach_stdio();
        } else if (m.kind == K::Unix) {
            r = server.listen_unix(m.path, m.wait);
        } else {
            r = server.listen_tcp(m.host, m.port, m.wait);
        }
        if (!r) return Error(r.error()).with_context("-qmp " + m.text);
    }
    return ok();
}

Result<std::unique_ptr<SerialSocket>> open_serial_socket(const cli::CommandLine& cl,
                                                         EventLoop& loop) {
    using K = cli::CharSpec::Kind;
    if (cl.serials.empty() || (cl.serials[0].kind != K::Unix && cl.serials[0].kind != K::Tcp)) {
        return std::unique_ptr<SerialSocket>();
    }
    Result<std::unique_ptr<SerialSocket>> s = SerialSocket::open(loop, cl.serials[0]);
    if (!s) return Error(s.error()).with_context("-serial " + cl.serials[0].text);
    if (cl.log_backends) std::fprintf(stderr, "molt: %s\n", (*s)->describe().c_str());
    return s;
}

Result<void> create_backends(const cli::CommandLine& cl, const migration::EarlyMigration& early,
                             std::vector<std::unique_ptr<hw::MemoryBackend>>& out) {
    auto add = [&](const api::ObjectOptions& o) -> Result<void> {
        Result<std::unique_ptr<hw::MemoryBackend>> b = hw::MemoryBackend::create(o, early);
        if (!b) return b.error();
        if (cl.log_backends) std::fprintf(stderr, "molt: %s\n", (*b)->describe().c_str());
        out.push_back(std::move(*b));
        return ok();
    };
    for (const auto& o : cl.objects) {
        Result<void> r = add(o);
        if (!r) return Error(r.error()).with_context("-object " + o.id);
    }
    if (cl.machine.memory_backend) return ok();
    api::ObjectOptions ram;
    ram.qom_type = api::ObjectType::MemoryBackendRam;
    ram.id = "molt.ram";
    api::MemoryBackendProperties& p = ram.u.memory_backend_ram.emplace();
    p.size = *cl.memory.size;
    p.share = cl.machine.aux_ram_share.value_or(false);
    Result<void> r = add(ram);
    if (!r) return Error(r.error()).with_context("-m");
    return ok();
}

namespace {

// The serial port's output: -serial stdio|file:PATH|null|none (default:
// stdio with -nographic, else none); a socket backend attaches its own
// later.
Result<UniqueFd> serial_output(const cli::CommandLine& cl) {
    using K = cli::CharSpec::Kind;
    K kind = cl.serials.empty() ? (cl.nographic ? K::Stdio : K::None) : cl.serials[0].kind;
    if (kind == K::Stdio) {
        UniqueFd fd(fcntl(1, F_DUPFD_CLOEXEC, 3));
        if (!fd) return Error::from_errno(errno, "-serial stdio");
        return fd;
    }
    if (kind == K::File) {
        const std::string& path = cl.serials[0].path;
        // Owner-only: the guest's console may show what others should not
        // read (QEMU leaves it to the umask; a created file is 0600 here).
        UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) return Error::from_errno(errno, "-serial file:" + path + ": Could not open '" + path + "'");
        return fd;
    }
    return UniqueFd();
}

std::array<uint8_t, 6> parse_mac(const std::optional<std::string>& text, size_t index) {
    std::array<uint8_t, 6> mac = {0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(0x56 + index)};
    if (text) {
        for (size_t i = 0; i < 6; ++i) {
            mac[i] = static_cast<uint8_t>(std::stoul(text->substr(i * 3, 2), nullptr, 16));
        }
    }
    return mac;
}

// The TAP of each -device virtio-net-device's netdev: opened, or adopted
// from an inherited fd (fd=N).  On a destination that is to receive the
// TAP fds (backend-transfer), the backend takes that path instead.
Result<std::vector<hw::NetSetup>> open_nets(const cli::CommandLine& cl,
                                            const migration::EarlyMigration& early) {
    std::vector<hw::NetSetup> nets;
    for (size_t i = 0; i < cl.devices.size(); ++i) {
        const api::VirtioNetDeviceOptions& dev = *cl.devices[i].u.virtio_net_device;
        const api::Netdev* nd = nullptr;
        for (const auto& n : cl.netdevs) {
            if (n.id == dev.netdev) nd = &n;
        }
        const api::NetdevTapOptions& t = *nd->u.tap;
        std::string where = "-netdev " + nd->id;
        std::string id = cl.devices[i].id.value_or(nd->id);
        const char* how = t.fd ? "inherited" : "opened";
        Result<hw::virtio::Tap> tap = Error("");
        if (early.adopts_tap()) {
            // backend-transfer: the previous molt's TAP, its interface and
            // the frames queued in it while the guest was paused.
            // cpr-transfer, cpr-exec: the fd is in the CPR state already;
            // otherwise it comes with the migration stream (pending).
            api::MigMode mode = early.params.mode();
            if (mode == api::MigMode::CprTransfer || mode == api::MigMode::CprExec) {
                Result<UniqueFd> fd = early.cpr ? early.cpr->take(hw::virtio::Tap::cpr_fd_name(id), 0)
                                                : Result<UniqueFd>(Error("no CPR state"));
                if (!fd) return Error(fd.error()).with_context(where + ": backend-transfer");
                MOLT_TRY(fault::check("cpr-adopt-tap"));
                tap = hw::virtio::Tap::adopt(std::move(*fd));
                how = "adopted";
            } else {
                tap = hw::virtio::Tap::pending(t.ifname.value_or(""));
                how = "awaiting (backend-transfer)";
            }
        } else if (t.fd) {
            char* end = nullptr;
            long fd = std::strtol(t.fd->c_str(), &end, 10);
            if (t.fd->empty() || *end || fd < 0 || fd > INT32_MAX) {
                return Error(where + ": fd=" + *t.fd + ": not a file descriptor number (names from getfd need -precreate)");
            }
            tap = hw::virtio::Tap::adopt(UniqueFd(fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 3)));
        } else {
            tap = hw::virtio::Tap::open(t.ifname.value_or(""));
        }
        if (!tap) return Error(tap.error()).with_context(where);
        if (cl.log_backends) {
            std::fprintf(stderr, "molt: netdev tap '%s': %s TAP %s\n", nd->id.c_str(), how, tap->ifname().c_str());
        }
        nets.push_back({id, std::move(*tap), parse_mac(dev.mac, i)});
    }
    return nets;
}

// -accel, or kvm when /dev/kvm opens, else tcg with a notice.
hw::MachineSetup::Accel choose_accel(const cli::CommandLine& cl) {
    using A = hw::MachineSetup::Accel;
    if (cl.accel) return cl.accel->accel == api::AccelType::Kvm ? A::Kvm : A::Tcg;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return A::Kvm;
    }
    if (cl.kernel) std::fprintf(stderr, "molt: /dev/kvm is not available; using the tcg accelerator\n");
    return A::Tcg;
}

}  // namespace

Result<std::unique_ptr<hw::Machine>> create_machine(
    const cli::CommandLine& cl, const std::vector<std::unique_ptr<hw::MemoryBackend>>& memory,
    const migration::EarlyMigration& early, std::function<void()> notify,
    std::optional<hw::TcgEngine> engine) {
    std::string ram_id = cl.machine.memory_backend.value_or("molt.ram");
    const hw::MemoryBackend* ram = nullptr;
    for (const auto& m : memory) {
        if (m->id() == ram_id) ram = m.get();
    }
    MOLT_ASSERT(ram != nullptr);
    hw::MachineSetup setup;
    setup.nets = MOLT_TRY(open_nets(cl, early));
    setup.accel = choose_accel(cl);
    setup.kernel = cl.kernel;
    setup.incoming = early.incoming;
    setup.initrd = cl.initrd;
    setup.bootargs = cl.append.value_or("");
    setup.serial_out = MOLT_TRY(serial_output(cl));
    if (setup.accel == hw::MachineSetup::Accel::Tcg) setup.tcg_engine = std::move(engine);
    return hw::Machine::create(std::move(setup), ram->host_view(), std::move(notify));
}

std::optional<hw::TcgEngine> warm_accelerator(const cli::CommandLine& cl,
                                              const migration::ParameterStore& params) {
    if (!cl.incoming_pending() || params.mode() != api::MigMode::CprTransfer) return std::nullopt;
    bool tcg = cl.accel ? cl.accel->accel == api::AccelType::Tcg : access("/dev/kvm", R_OK | W_OK) != 0;
    if (!tcg) return std::nullopt;
    Result<hw::TcgEngine> engine = hw::TcgEngine::warm();
    if (!engine) return std::nullopt;
    return std::move(*engine);
}

bool serial_is_stdio(const cli::CommandLine& cl) {
    using K = cli::CharSpec::Kind;
    return cl.serials.empty() ? cl.nographic : cl.serials[0].kind == K::Stdio;
}

Result<bool> dump_dtb(const cli::CommandLine& cl, const hw::Machine& machine) {
    if (!cl.machine.dumpdtb) return false;
    const std::string& path = *cl.machine.dumpdtb;
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    const std::vector<uint8_t>& dtb = machine.fdt();
    if (!fd || write(fd.get(), dtb.data(), dtb.size()) != static_cast<ssize_t>(dtb.size())) {
        return Error::from_errno(errno, "-machine dumpdtb=" + path + ": cannot write the device tree");
    }
    return true;
}

Result<void> start_incoming(const cli::CommandLine& cl, MigrationControl& migration) {
    for (const auto& s : cl.incoming) {
        if (s.channel.channel_type != api::MigrationChannelType::Main) continue;
        Result<void> r = migration.incoming(*s.channel.addr, true);
        if (!r) return Error(r.error()).with_context("-incoming " + s.text);
    }
    return ok();
}

}  // namespace molt::vmm
