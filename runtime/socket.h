// Sockets: listening and connecting UNIX/TCP stream sockets, and sending
// and receiving data with file descriptors attached (SCM_RIGHTS).
//
// Used by the QMP server (runtime/qmp), moltctl and, later, the migration
// channels.  Every socket is close-on-exec; received fds are made
// close-on-exec as they arrive (MSG_CMSG_CLOEXEC).
#pragma once

#include <string>
#include <vector>

#include "runtime/result.h"
#include "runtime/unique_fd.h"

namespace molt {

// Most fds accepted with one message; more are closed (a client cannot
// fill our fd table by sending many at once).
inline constexpr size_t kMaxFdsPerMessage = 16;

// Listens on a UNIX socket at path, non-blocking.  A stale socket file at
// path is replaced; any other existing file is an error.  The socket file
// is created with mode 0600 (owner only).
Result<UniqueFd> listen_unix(const std::string& path);

// Listens on host:port (TCP, numeric or resolved), non-blocking, with
// SO_REUSEADDR.  Port 0 picks a free port; local_port() tells which.
Result<UniqueFd> listen_tcp(const std::string& host, const std::string& port);
Result<int> local_port(int fd);

// Accepts one connection, non-blocking and close-on-exec; an empty fd
// when none is pending.
Result<UniqueFd> accept_connection(int listen_fd);

// Blocking connects.
Result<UniqueFd> connect_unix(const std::string& path);
Result<UniqueFd> connect_tcp(const std::string& host, const std::string& port);

// A connected UNIX socket's peer must run as this process's user
// (SO_PEERCRED): an Error naming its uid otherwise.
Result<void> check_peer_is_same_user(int fd);

// Reads up to buf.size() bytes; fds that came with them are appended to
// fds (beyond kMaxFdsPerMessage they are closed).  Returns 0 at end of
// stream; EAGAIN is returned as an Error with errno EAGAIN.
Result<size_t> recv_with_fds(int fd, char* buf, size_t len, std::vector<UniqueFd>& fds);

// Sends all of data with fds attached to the first byte (blocking socket).
Result<void> send_with_fds(int fd, std::string_view data, const std::vector<int>& fds);

}  // namespace molt
