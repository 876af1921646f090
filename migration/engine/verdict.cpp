// The destination's verdict; see verdict.h.
#include "migration/engine/verdict.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace molt::migration {

namespace {

// One line, "OK" or "ERR <message>": a message longer than a page is cut
// by the sender, and a reader stops at that much without a newline.
constexpr size_t kMaxVerdictBytes = 4096;

}  // namespace

stream::SectionInfo return_path_section_info() { return {std::string(kReturnPathSection), 0, 1, 1}; }

bool is_socket(int fd) {
    struct stat st {};
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

Result<void> send_verdict(int fd, const std::optional<std::string>& error) {
    std::string line = error ? "ERR " + *error : "OK";
    std::replace(line.begin(), line.end(), '\n', ' ');
    if (line.size() >= kMaxVerdictBytes) line.resize(kMaxVerdictBytes - 1);
    line += '\n';
    size_t at = 0;
    while (at < line.size()) {
        ssize_t n = send(fd, line.data() + at, line.size() - at, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 5000) <= 0) return Error("migration: the source does not take the verdict");
            continue;
        }
        if (n < 0) return Error::from_errno(errno, "migration: sending the verdict to the source");
        at += static_cast<size_t>(n);
    }
    return ok();
}

Result<void> await_verdict(int fd, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string got;
    while (got.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return Error("the destination did not confirm the migration within " +
                         std::to_string(timeout_ms / 1000) + " s");
        }
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno != EINTR) return Error::from_errno(errno, "migration: waiting for the destination");
        if (r <= 0) continue;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) return Error::from_errno(errno, "migration: reading the destination's verdict");
        if (n == 0) return Error("the destination closed the connection without confirming the migration");
        got.append(buf, static_cast<size_t>(n));
        if (got.size() > kMaxVerdictBytes && got.find('\n') == std::string::npos) {
            return Error("the destination's verdict is longer than " + std::to_string(kMaxVerdictBytes) + " bytes");
        }
    }
    std::string line = got.substr(0, got.find('\n'));
    if (line == "OK") return ok();
    if (line.rfind("ERR ", 0) == 0) return Error("the destination refused the migration: " + line.substr(4));
    return Error("the destination's verdict is not understood");
}

}  // namespace molt::migration
