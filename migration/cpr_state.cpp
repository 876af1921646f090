// CprState; see cpr_state.h.
#include "migration/cpr_state.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string_view>

#include "qapi-validate-machine-state.h"
#include "qapi-visit-machine-state.h"
#include "runtime/socket.h"
#include "runtime/visit.h"

namespace molt::migration {

namespace {

constexpr uint32_t kMagic = 0x4d435052;   // "MCPR"
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 16;
constexpr int64_t kFirstExecFd = 3;   // below: stdin, stdout, stderr

void put32(std::vector<uint8_t>& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint32_t get32(std::span<const uint8_t> in, size_t at) {
    return (uint32_t{in[at]} << 24) | (uint32_t{in[at + 1]} << 16) | (uint32_t{in[at + 2]} << 8) | in[at + 3];
}

struct Header {
    uint32_t json_len;
    uint32_t fds;
};

Result<Header> parse_header(std::span<const uint8_t> in) {
    if (in.size() < kHeader) return Error("CPR state: truncated header");
    if (get32(in, 0) != kMagic) return Error("CPR state: bad magic (not a molt CPR state)");
    if (get32(in, 4) != kVersion) {
        return Error("CPR state: version " + std::to_string(get32(in, 4)) + " is not supported (this molt reads 1)");
    }
    Header h{get32(in, 8), get32(in, 12)};
    if (h.json_len > CprState::kMaxJson) {
        return Error("CPR state: " + std::to_string(h.json_len) + " bytes of JSON announced, more than the limit of " +
                     std::to_string(CprState::kMaxJson));
    }
    if (h.fds > CprState::kMaxFds) {
        return Error("CPR state: " + std::to_string(h.fds) + " file descriptors announced, more than the limit of " +
                     std::to_string(CprState::kMaxFds));
    }
    return h;
}

// cpr-exec: each fd number is adopted (closed by its new owner), so none
// may be stdin/stdout/stderr and none may come twice (two owners of one
// number would close it twice, the second time whatever reused it).
Result<void> check_exec_numbers(const api::CprStateInfo& info) {
    std::vector<int64_t> seen;
    for (const api::CprFd& f : info.fds) {
        if (!f.fd) return Error("CPR state: " + f.name + " names no open file descriptor");
        if (*f.fd < kFirstExecFd) {
            return Error("CPR state: " + f.name + " names fd " + std::to_string(*f.fd) +
                         ", one of stdin, stdout and stderr");
        }
        if (std::find(seen.begin(), seen.end(), *f.fd) != seen.end()) {
            return Error("CPR state: fd " + std::to_string(*f.fd) + " is named twice");
        }
        seen.push_back(*f.fd);
    }
    return ok();
}

}  // namespace

void CprState::add(std::string name, int64_t index, UniqueFd fd) {
    m_entries.push_back({std::move(name), index, std::move(fd)});
}

Result<UniqueFd> CprState::take(const std::string& name, int64_t index) {
    for (Entry& e : m_entries) {
        if (e.name == name && e.index == index && e.fd) return std::move(e.fd);
    }
    return Error("the CPR state has no file descriptor for " + name + "/" + std::to_string(index));
}

bool CprState::has(const std::string& name) const {
    return std::any_of(m_entries.begin(), m_entries.end(),
                       [&](const Entry& e) { return e.name == name && e.fd; });
}

std::vector<std::string> CprState::left() const {
    std::vector<std::string> out;
    for (const Entry& e : m_entries) {
        if (e.fd) out.push_back(e.name + "/" + std::to_string(e.index));
    }
    return out;
}

std::vector<uint8_t> CprState::encode(bool with_numbers) const {
    api::CprStateInfo info{};
    for (const Entry& e : m_entries) {
        api::CprFd f{};
        f.name = e.name;
        f.index = e.index;
        if (with_numbers) f.fd = e.fd.get();
        info.fds.push_back(std::move(f));
    }
    if (with_numbers) info.exec_helper = m_exec_helper;
    std::string json = to_json(info);
    std::vector<uint8_t> out;
    put32(out, kMagic);
    put32(out, kVersion);
    put32(out, static_cast<uint32_t>(json.size()));
    put32(out, static_cast<uint32_t>(m_entries.size()));
    out.insert(out.end(), json.begin(), json.end());
    return out;
}

Result<CprState> CprState::decode(std::span<const uint8_t> bytes, std::vector<UniqueFd> fds, bool exec) {
    Header h = MOLT_TRY(parse_header(bytes));
    if (bytes.size() != kHeader + h.json_len) return Error("CPR state: wrong length");
    std::string_view json(reinterpret_cast<const char*>(bytes.data() + kHeader), h.json_len);
    Result<api::CprStateInfo> info = from_str<api::CprStateInfo>(json);
    if (!info) return Error(info.error()).with_context("CPR state");
    // The schema's ranges (index, fd number, helper pid) hold before any
    // number is used.
    Result<void> valid = validate(*info);
    if (!valid) return Error(valid.error()).with_context("CPR state");
    if (info->fds.size() != h.fds) return Error("CPR state: the header and the list disagree on the fd count");
    if (!exec && fds.size() != h.fds) {
        return Error("CPR state: " + std::to_string(h.fds) + " file descriptors announced, " +
                     std::to_string(fds.size()) + " received");
    }
    if (exec) MOLT_TRY(check_exec_numbers(*info));
    CprState state;
    if (exec) state.m_exec_helper = info->exec_helper;
    for (size_t i = 0; i < info->fds.size(); ++i) {
        const api::CprFd& f = info->fds[i];
        UniqueFd fd;
        if (exec) {
            if (!f.fd || fcntl(static_cast<int>(*f.fd), F_GETFD) < 0) {
                return Error("CPR state: " + f.name + " names no open file descriptor");
            }
            fd.reset(static_cast<int>(*f.fd));
        } else {
            fd = std::move(fds[i]);
        }
        state.add(f.name, f.index, std::move(fd));
    }
    return state;
}

Result<void> CprState::send(int sock) const {
    std::vector<uint8_t> bytes = encode(false);
    std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    // The header carries the first 16 fds, each following byte 16 more
    // (the JSON is longer than that by far: ~30 bytes per fd).
    size_t at = 0, next_fd = 0;
    while (at < all.size()) {
        size_t len = at == 0 ? kHeader : (next_fd < m_entries.size() ? 1 : all.size() - at);
        std::vector<int> batch;
        for (; next_fd < m_entries.size() && batch.size() < kMaxFdsPerMessage; ++next_fd) {
            batch.push_back(m_entries[next_fd].fd.get());
        }
        MOLT_TRY(send_with_fds(sock, all.substr(at, len), batch));
        at += len;
    }
    if (next_fd != m_entries.size()) return Error("CPR state: too many file descriptors for its size");
    return ok();
}

Result<CprState> CprState::receive(int sock, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<uint8_t> bytes;
    std::vector<UniqueFd> fds;
    size_t want = kHeader;
    uint32_t announced = 0;
    while (bytes.size() < want) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return Error("CPR state: timed out waiting for the previous molt");
        pollfd p{sock, POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno != EINTR) return Error::from_errno(errno, "CPR state: poll");
        if (n <= 0) continue;
        char buf[4096];
        // While fds are due, one byte at a time: a read must not run past
        // the byte the next batch is attached to.
        size_t room = std::min(fds.size() < announced ? size_t{1} : sizeof buf, want - bytes.size());
        std::vector<UniqueFd> batch;   // (recv_with_fds keeps 16 per vector)
        Result<size_t> got = recv_with_fds(sock, buf, room, batch);
        for (UniqueFd& fd : batch) fds.push_back(std::move(fd));
        if (!got) {
            if (got.error().errno_value() == EAGAIN) continue;
            return Error(got.error()).with_context("CPR state");
        }
        if (*got == 0) return Error("CPR state: the previous molt closed the cpr channel early");
        bytes.insert(bytes.end(), buf, buf + *got);
        if (fds.size() > kMaxFds) {
            return Error("CPR state: more than the limit of " + std::to_string(kMaxFds) + " file descriptors arrived");
        }
        if (bytes.size() == kHeader && want == kHeader) {
            Header h = MOLT_TRY(parse_header(bytes));
            want += h.json_len;
            announced = h.fds;
        }
    }
    return decode(bytes, std::move(fds), false);
}

Result<UniqueFd> CprState::to_memfd() const {
    UniqueFd fd(memfd_create("molt:cpr-state", MFD_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "memfd_create");
    std::vector<uint8_t> bytes = encode(true);
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno(errno, "CPR state: writing its memfd");
        done += static_cast<size_t>(n);
    }
    return fd;
}

Result<void> CprState::set_cloexec(bool on) const {
    for (const Entry& e : m_entries) {
        if (!e.fd) continue;
        if (fcntl(e.fd.get(), F_SETFD, on ? FD_CLOEXEC : 0) < 0) {
            return Error::from_errno(errno, "CPR state: fcntl(" + e.name + ")");
        }
    }
    return ok();
}

Result<CprState> CprState::from_exec_env() {
    const char* text = std::getenv(kCprExecEnv);
    if (!text) return CprState();
    std::string value(text);
    unsetenv(kCprExecEnv);
    char* end = nullptr;
    long number = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || number < 0 || number > 1048575 ||
        fcntl(static_cast<int>(number), F_GETFD) < 0) {
        return Error(std::string(kCprExecEnv) + "=" + value + " names no open file descriptor");
    }
    UniqueFd memfd(static_cast<int>(number));
    std::vector<uint8_t> bytes;
    uint8_t buf[4096];
    for (off_t at = 0;;) {
        ssize_t n = pread(memfd.get(), buf, sizeof buf, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno(errno, "CPR state: reading its memfd");
        if (n == 0) break;
        bytes.insert(bytes.end(), buf, buf + n);
        at += n;
        if (bytes.size() > kHeader + kMaxJson) {
            return Error("CPR state: its memfd holds more than the limit of " + std::to_string(kHeader + kMaxJson) +
                         " bytes");
        }
    }
    CprState state = MOLT_TRY(decode(bytes, {}, true));
    MOLT_TRY(state.set_cloexec(true));
    return state;
}

Result<void> wait_for_hang_up(int sock, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return Error("the new process did not take the CPR state within " + std::to_string(timeout_ms / 1000) +
                         " s");
        }
        pollfd p{sock, POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno != EINTR) return Error::from_errno(errno, "poll");
        if (n <= 0) continue;
        char c;
        ssize_t got = read(sock, &c, 1);
        if (got == 0) return ok();
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got < 0) return Error::from_errno(errno, "waiting for the new process");
        return Error("the new process answered on the cpr channel instead of closing it");
    }
}

}  // namespace molt::migration
