// The steps of molt's start-up that main() strings together (vmm/):
// refusing what this build cannot do yet, merging the migration
// parameters, daemonizing, the pid file, the QMP monitors, the serial
// socket and the memory backends.  Each returns an Error with the option it is about.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "hw/machine.h"
#include "hw/memory/memory_backend.h"
#include "migration/early.h"
#include "runtime/qmp/server.h"
#include "vmm/migration_control.h"
#include "vmm/serial_socket.h"

namespace molt::vmm {

// Options that are parsed and valid but that this build does not
// implement yet fail here, before anything is created.
Result<void> check_supported(const cli::CommandLine& cl);

// schema defaults < machine compat < -global migration.* < -incoming config:.
Result<migration::ParameterStore> build_parameters(const cli::CommandLine& cl);

// -daemonize: the parent waits until the child is ready (or failed) and
// exits with its status; the child detaches once ready().
class Daemon {
public:
    static Result<Daemon> start(bool daemonize);
    Daemon(Daemon&&) noexcept = default;
    // Start-up went well: release the parent, detach from the terminal.
    void ready();

private:
    explicit Daemon(UniqueFd fd) : m_ready_pipe(std::move(fd)) {}
    UniqueFd m_ready_pipe;
};

// -pidfile: written and locked at start-up, removed at exit.
class PidFile {
public:
    static Result<PidFile> create(const std::optional<std::string>& path);
    PidFile(PidFile&& other) noexcept;
    ~PidFile();

private:
    PidFile() = default;
    std::string m_path;
    UniqueFd m_fd;
};

Result<void> start_monitors(const cli::CommandLine& cl, qmp::Server& server);

// -serial unix:/tcp:: the socket backend, listening or connected, created
// with the monitors as QEMU creates its chardevs; nullptr for the other
// backends.
Result<std::unique_ptr<SerialSocket>> open_serial_socket(const cli::CommandLine& cl,
                                                         EventLoop& loop);

// The -object memory backends, then the machine's own RAM (-m) unless
// -machine memory-backend names one of them.
Result<void> create_backends(const cli::CommandLine& cl, const migration::EarlyMigration& early,
                             std::vector<std::unique_ptr<hw::MemoryBackend>>& out);

// The machine on the guest RAM backend (-machine memory-backend=ID or
// molt.ram), with the serial port's backend, the virtio-net devices on
// their TAPs (which read the early parameters too) and the -kernel image.
// notify is called on the vCPU thread to wake the main loop.
// `engine`: tcg's engine made ready beforehand (warm_accelerator), if any.
Result<std::unique_ptr<hw::Machine>> create_machine(
    const cli::CommandLine& cl, const std::vector<std::unique_ptr<hw::MemoryBackend>>& memory,
    const migration::EarlyMigration& early, std::function<void()> notify,
    std::optional<hw::TcgEngine> engine = std::nullopt);

// A cpr-transfer destination that will use tcg: the engine set up now,
// while it waits for the old process (the guest is not paused yet), so
// that create_machine() does not do it inside the pause.  nullopt
// otherwise (or if that fails: create_machine() then tries and reports).
std::optional<hw::TcgEngine> warm_accelerator(const cli::CommandLine& cl,
                                              const migration::ParameterStore& params);

// Whether COM1's backend is stdio (-serial stdio, or -nographic without -serial).
bool serial_is_stdio(const cli::CommandLine& cl);

// -machine dumpdtb=FILE: writes the device tree; true if molt should exit.
Result<bool> dump_dtb(const cli::CommandLine& cl, const hw::Machine& machine);

// A notice for -incoming channels, which this build cannot serve yet.
// Starts receiving on the -incoming main channel, if one was given (not
// defer): listening, or reading a file or a command's output.
Result<void> start_incoming(const cli::CommandLine& cl, MigrationControl& migration);

}  // namespace molt::vmm
