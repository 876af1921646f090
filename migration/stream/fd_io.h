// Whole-buffer reads and writes on a file descriptor for the migration
// stream writer and reader: EINTR and partial transfers are retried, a
// non-blocking fd is waited for with poll(), and a socket is written with
// sendmsg(MSG_NOSIGNAL) so that a closed peer is an EPIPE Error rather
// than a SIGPIPE.  (Pipes cannot do that: for them the process must ignore
// SIGPIPE, as molt does in vmm/main.cpp.)
//
// The fd is borrowed for the call.  Blocking calls: meant for the
// migration thread, never the main loop.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt::migration::stream {

enum class FdKind { Socket, Other };

// Socket when fstat says so; Other for pipes, files, ttys and errors.
FdKind fd_kind(int fd);

// Writes all bytes of iov (at most IOV_MAX entries; the entries are
// advanced in place as bytes go out).  Error: errno of the failed write
// ("write: Broken pipe"); a write accepting 0 bytes is an EIO Error.
Result<void> write_all(int fd, FdKind kind, std::span<iovec> iov);

// Reads at most size bytes into p, at least one unless at end of file;
// returns the count, 0 meaning end of file.  Error: errno ("read: ...").
// With `fds` (a socket), descriptors that come with the bytes are
// appended there (close-on-exec; runtime/socket.h recv_with_fds).
Result<size_t> read_some(int fd, uint8_t* p, size_t size, std::vector<UniqueFd>* fds = nullptr);

}  // namespace molt::migration::stream
