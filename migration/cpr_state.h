// CPR state (cpr-transfer, cpr-exec): the file descriptors one molt hands
// the next in a live update - guest RAM memfds and, with backend-transfer,
// TAP queues - each under its owner's name ("memory-backend/ram0",
// "tap/net0") and an index (0 for RAM, the queue for a TAP).  The new
// process reads it before it creates any backend; each backend takes its
// own fds out by name (EarlyMigration::cpr).
//
// The bytes: "MCPR", version, JSON length, fd count (four big-endian
// 32-bit words), then the JSON of a CprStateInfo (schema/machine-state.json).
//   cpr-transfer  one UNIX socket connection (the cpr channel); the fds
//                 ride along as SCM_RIGHTS, at most 16 per message
//   cpr-exec      a memfd whose number is in $MOLT_CPR_EXEC_STATE; the
//                 fds stay open across exec, their numbers in the JSON
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration {

inline constexpr const char* kCprExecEnv = "MOLT_CPR_EXEC_STATE";

class CprState {
public:
    // Bounds on what a peer announces, checked before anything is
    // allocated: 1024 fds (CprFd's index range, and the usual soft
    // RLIMIT_NOFILE: a state beyond it could not be opened anyway) and
    // 1 MiB of JSON (about 40 bytes per fd: 25 times what 1024 need).
    static constexpr size_t kMaxFds = 1024;
    static constexpr size_t kMaxJson = 1 << 20;

    // Adds fd (owned from now on) under name/index.
    void add(std::string name, int64_t index, UniqueFd fd);
    // Takes the fd saved under name/index out; an Error naming it if absent.
    Result<UniqueFd> take(const std::string& name, int64_t index);
    bool has(const std::string& name) const;
    size_t size() const { return m_entries.size(); }
    // "name/index" of the fds nobody took, for a message.
    std::vector<std::string> left() const;
    // cpr-exec: the old program's exec helper, for the new one to reap.
    void set_exec_helper(int64_t pid) { m_exec_helper = pid; }
    std::optional<int64_t> exec_helper() const { return m_exec_helper; }

    // cpr-transfer: the whole state over a connected UNIX socket
    // (blocking), and its reading within timeout_ms.
    Result<void> send(int sock) const;
    static Result<CprState> receive(int sock, int timeout_ms);

    // cpr-exec: a memfd with the state (fd numbers included); the fds
    // themselves must outlive the exec (clear_cloexec()).
    Result<UniqueFd> to_memfd() const;
    // Every fd inheritable (just before exec) or close-on-exec again
    // (after a failed exec, or in the new process once read).
    Result<void> set_cloexec(bool on) const;
    // In the new process: the state named by $MOLT_CPR_EXEC_STATE (the
    // variable is removed, the memfd closed); an empty state if unset.
    static Result<CprState> from_exec_env();

private:
    struct Entry {
        std::string name;
        int64_t index;
        UniqueFd fd;
    };
    std::vector<uint8_t> encode(bool with_numbers) const;
    // Parses header + JSON; `fds` are the descriptors in order (transfer),
    // or with `exec` the numbers in the JSON are adopted.
    static Result<CprState> decode(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds, bool exec);

    std::vector<Entry> m_entries;
    std::optional<int64_t> m_exec_helper;
};

// cpr-transfer's source, after send() and shutdown(SHUT_WR): waits up to
// timeout_ms for the new process to close its end (it has the fds and
// listens on the main address by then).  Bytes from it are an error.
Result<void> wait_for_hang_up(int sock, int timeout_ms);

}  // namespace molt::migration
