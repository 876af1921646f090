// The destination's verdict (migration/engine): over a socket, the source
// does not call a migration completed until the destination says it has
// loaded everything - else a stream the destination refuses at the very
// end (a bad CRC, a device it cannot load) would leave the guest running
// nowhere.
//
// The source asks for it with the section "migration/return-path" (only
// when its channel is a socket: a pipe or a file cannot answer).  After
// its end marker it waits for one line on the same socket:
//   "OK\n"              loaded; the destination runs the guest after
//                       sending this (never before), and not at all if
//                       the line cannot be sent
//   "ERR <message>\n"   refused: the source resumes the guest and reports
//                       failed with the message
// The connection closing without a line, or no line within the timeout,
// is a failure on the source too.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "migration/stream/records.h"
#include "runtime/result.h"

namespace molt::migration {

inline constexpr std::string_view kReturnPathSection = "migration/return-path";

stream::SectionInfo return_path_section_info();
bool is_socket(int fd);

// Destination: OK when error is nullopt, else ERR with the message.
Result<void> send_verdict(int fd, const std::optional<std::string>& error);
// Source: waits up to timeout_ms for the verdict; an Error for ERR (with
// the destination's message), a closed connection or the timeout.
Result<void> await_verdict(int fd, int timeout_ms);

}  // namespace molt::migration
