// UniqueFd: the owner of one file descriptor (STYLE.md section 5).
//
// Move-only; closes its fd when destroyed or reset; release() gives the fd
// up.  A plain `int fd` parameter elsewhere is borrowed for the call only;
// ownership moves only as a UniqueFd by value.  Every fd molt opens is
// close-on-exec (O_CLOEXEC, SOCK_CLOEXEC, EFD_CLOEXEC): only cpr-exec
// clears the flag, on purpose, just before exec.
#pragma once

#include <utility>

namespace molt {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership: the caller now owns the returned fd.
    int release() { return std::exchange(m_fd, -1); }
    // Closes the current fd (if any) and owns fd instead.
    void reset(int fd = -1);

private:
    int m_fd = -1;
};

}  // namespace molt
