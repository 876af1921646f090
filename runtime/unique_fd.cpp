// UniqueFd; see unique_fd.h.
#include "runtime/unique_fd.h"

#include <unistd.h>

namespace molt {

void UniqueFd::reset(int fd) {
    if (m_fd >= 0 && m_fd != fd) {
        // close() may fail (EINTR, EIO) but the fd is released either way on
        // Linux; retrying could close a descriptor another thread just got.
        ::close(m_fd);
    }
    m_fd = fd;
}

}  // namespace molt
