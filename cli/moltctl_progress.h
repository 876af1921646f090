// moltctl migrate --progress: follows an outgoing migration to its end.
//
//   moltctl                                   server (source)
//     |  migrate {"uri": URI} ----------------->   (cli/moltctl.cpp)
//     |  query-migrate ------------------------>   every 100 ms
//     |  <-------- {"status": "active", "ram": {...}, ...}
//     |     ... one progress line per reply ...
//     |  (Ctrl-C) migrate_cancel -------------->   once
//     |  query-migrate ------------------------>
//     |  <-------- {"status": "completed" | "failed" | "cancelled", ...}
//     |  the final figures; exit status 0 (completed) or 1
//
// The last stage of moltctl for this one command: it reads query-migrate's
// MigrationInfo (the same for molt and QEMU) and draws a one-line progress
// bar, redrawn in place with a carriage return when stdout is a terminal,
// as plain lines otherwise (at most one a second, and at each change of
// status or pass); with --json every reply is one line of JSON instead.
// Single-threaded; installs a SIGINT handler while it runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli/moltctl_client.h"
#include "runtime/json.h"
#include "runtime/result.h"

namespace molt::cli {

// The members of one query-migrate reply that the progress line and the
// final figures show; absent numbers are 0 or nullopt.
struct MigrationSample {
    std::string status;                 // "" when the server has no migration
    uint64_t transferred = 0;           // ram.transferred, bytes
    uint64_t remaining = 0;             // ram.remaining, bytes
    uint64_t total = 0;                 // ram.total, bytes
    double mbps = 0;                    // ram.mbps, megabits/s
    uint64_t dirty_sync_count = 0;      // ram.dirty-sync-count
    std::optional<int64_t> total_time_ms, downtime_ms, setup_time_ms, expected_downtime_ms;
    std::string error_desc;
};

MigrationSample parse_migration_sample(const JsonValue& info);

// completed, failed, cancelled: the migration is over.
bool migration_over(std::string_view status);

// One progress line, without '\n': status, a bar of the RAM sent so far,
// transferred and remaining, throughput (bytes_per_s; the sample's mbps
// when it is 0), pass (dirty-sync-count) and expected downtime, e.g.
//   active [#########-----------]  45%  sent 461.2 MiB  left 562.8 MiB  1350 MB/s  pass 1
// (then "  expected downtime 120 ms" when the server gives one, from pass 1).
std::string format_progress(const MigrationSample& s, double bytes_per_s);

// The final figures, one line without '\n', e.g.
//   completed: total-time 812 ms, downtime 14 ms, setup-time 0 ms,
//              transferred 1.0 GiB, throughput 1322 MB/s       (one line)
// (throughput = transferred / total-time; figures the server left out are
// left out).
std::string format_final(const MigrationSample& s);

// Polls query-migrate until the migration is over, printing progress as
// above; Ctrl-C sends migrate_cancel once (a second Ctrl-C ends moltctl).
// Returns the exit status: 0 when it completed, 1 when it failed or was
// cancelled (stderr then says "moltctl: migration failed: ERROR-DESC" or
// "moltctl: migration cancelled").  Errors: the connection failing, query-migrate refused,
// or no migration at all (an empty reply).
Result<int> follow_migration(QmpClient& client, bool json);

}  // namespace molt::cli
