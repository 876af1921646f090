// moltctl migrate --progress; see moltctl_progress.h.
#include "cli/moltctl_progress.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <deque>
#include <iterator>
#include <utility>

namespace molt::cli {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
// Throughput is the growth of ram.transferred over about this long.
constexpr auto kRateWindow = std::chrono::seconds(1);
// Without a terminal, a progress line at most this often (plus one at
// every change of status or pass).
constexpr auto kPlainLineInterval = std::chrono::seconds(1);
constexpr int kBarWidth = 20;

volatile sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

// SIGINT sets g_interrupted while this lives (once: SA_RESETHAND gives the
// second Ctrl-C its default effect).  No SA_RESTART: a blocked poll()
// returns at once.
class SigintGuard {
public:
    SigintGuard() {
        struct sigaction sa {};
        sa.sa_handler = on_sigint;
        sa.sa_flags = static_cast<int>(SA_RESETHAND);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &m_old);
    }
    ~SigintGuard() { sigaction(SIGINT, &m_old, nullptr); }
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;

private:
    struct sigaction m_old {};
};

const JsonValue* member(const JsonValue& v, const char* key) {
    if (!v.IsObject()) return nullptr;
    auto it = v.FindMember(key);
    return it == v.MemberEnd() ? nullptr : &it->value;
}

std::optional<int64_t> int_member(const JsonValue& v, const char* key) {
    const JsonValue* m = member(v, key);
    if (m && m->IsInt64()) return m->GetInt64();
    if (m && m->IsNumber()) return static_cast<int64_t>(m->GetDouble());
    return std::nullopt;
}

uint64_t count_member(const JsonValue& v, const char* key) {
    std::optional<int64_t> n = int_member(v, key);
    return n && *n > 0 ? static_cast<uint64_t>(*n) : 0;
}

std::string text_member(const JsonValue& v, const char* key) {
    const JsonValue* m = member(v, key);
    return m && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : std::string();
}

std::string format(const char* fmt, auto... args) {
    char buf[128];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

// "812 B", "4.0 KiB", "461.2 MiB", "1.0 GiB".
std::string size_text(uint64_t bytes) {
    static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return format("%" PRIu64 " B", bytes);
    double v = static_cast<double>(bytes) / 1024;
    size_t unit = 0;
    while (v >= 1024 && unit + 1 < std::size(kUnits)) {
        v /= 1024;
        ++unit;
    }
    return format("%.1f %s", v, kUnits[unit]);
}

std::string rate_text(double bytes_per_s) { return format("%.0f MB/s", bytes_per_s / 1e6); }

std::string bar(uint64_t done, uint64_t total) {
    int filled = total ? static_cast<int>(static_cast<double>(done) / static_cast<double>(total) *
                                          kBarWidth)
                       : 0;
    int percent = total ? static_cast<int>(static_cast<double>(done) * 100 /
                                           static_cast<double>(total))
                        : 0;
    return "[" + std::string(static_cast<size_t>(filled), '#') +
           std::string(static_cast<size_t>(kBarWidth - filled), '-') + "] " +
           format("%3d%%", percent);
}

void write_out(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// Throughput from the growth of ram.transferred over the last kRateWindow.
class RateMeter {
public:
    double add(Clock::time_point now, uint64_t transferred) {
        m_samples.emplace_back(now, transferred);
        while (m_samples.size() > 2 && now - m_samples[1].first >= kRateWindow) {
            m_samples.pop_front();
        }
        auto [t0, b0] = m_samples.front();
        double dt = std::chrono::duration<double>(now - t0).count();
        return dt > 0 && transferred >= b0 ? static_cast<double>(transferred - b0) / dt : 0;
    }

private:
    std::deque<std::pair<Clock::time_point, uint64_t>> m_samples;
};

// Prints samples as progress lines (terminal: redrawn in place; else
// plain lines, not too often) or as JSON lines.
class ProgressPrinter {
public:
    explicit ProgressPrinter(bool json) : m_json(json), m_tty(isatty(STDOUT_FILENO) == 1) {}

    void sample(const Json& info, const MigrationSample& s, double bytes_per_s) {
        if (m_json) return write_out(info.str() + "\n");
        std::string line = format_progress(s, bytes_per_s);
        Clock::time_point now = Clock::now();
        if (m_tty) {
            write_out("\r" + line + "\033[K");
            m_drawn = true;
            return;
        }
        bool changed = s.status != m_status || s.dirty_sync_count != m_pass;
        if (!changed && m_printed && now - m_last < kPlainLineInterval) return;
        m_status = s.status;
        m_pass = s.dirty_sync_count;
        m_last = now;
        m_printed = true;
        write_out(line + "\n");
    }

    void final(const Json& info, const MigrationSample& s) {
        if (m_json) return write_out(info.str() + "\n");
        write_out((m_drawn ? "\r\033[K" : "") + format_final(s) + "\n");
        m_drawn = false;
    }

    // Before a message on stderr: ends a line drawn in place.
    void break_line() {
        if (m_drawn) write_out("\n");
        m_drawn = false;
    }

private:
    bool m_json;
    bool m_tty;
    bool m_drawn = false;     // a line is drawn in place, no '\n' yet
    bool m_printed = false;
    std::string m_status;
    uint64_t m_pass = 0;
    Clock::time_point m_last;
};

// Sleeps one poll interval; a signal ends it early.
void pause_between_polls() { poll(nullptr, 0, static_cast<int>(kPollInterval.count())); }

}  // namespace

MigrationSample parse_migration_sample(const JsonValue& info) {
    MigrationSample s;
    s.status = text_member(info, "status");
    if (const JsonValue* ram = member(info, "ram")) {
        s.transferred = count_member(*ram, "transferred");
        s.remaining = count_member(*ram, "remaining");
        s.total = count_member(*ram, "total");
        s.dirty_sync_count = count_member(*ram, "dirty-sync-count");
        if (const JsonValue* m = member(*ram, "mbps"); m && m->IsNumber()) s.mbps = m->GetDouble();
    }
    s.total_time_ms = int_member(info, "total-time");
    s.downtime_ms = int_member(info, "downtime");
    s.setup_time_ms = int_member(info, "setup-time");
    s.expected_downtime_ms = int_member(info, "expected-downtime");
    s.error_desc = text_member(info, "error-desc");
    return s;
}

bool migration_over(std::string_view status) {
    return status == "completed" || status == "failed" || status == "cancelled";
}

std::string format_progress(const MigrationSample& s, double bytes_per_s) {
    std::string line = s.status;
    if (s.total == 0) return line;   // no RAM figures yet (setup)
    uint64_t done = s.total > s.remaining ? s.total - s.remaining : 0;
    if (bytes_per_s <= 0) bytes_per_s = s.mbps * 1e6 / 8;
    line += " " + bar(done, s.total);
    line += "  sent " + size_text(s.transferred) + "  left " + size_text(s.remaining);
    line += "  " + rate_text(bytes_per_s);
    line += format("  pass %" PRIu64, s.dirty_sync_count);
    // Before the first pass ends there is nothing to expect from yet.
    if (s.expected_downtime_ms && s.dirty_sync_count > 0) {
        line += format("  expected downtime %" PRId64 " ms", *s.expected_downtime_ms);
    }
    return line;
}

std::string format_final(const MigrationSample& s) {
    std::string line = (s.status.empty() ? "unknown" : s.status) + ":";
    std::string sep = " ";
    auto add = [&](const std::string& item) {
        line += sep + item;
        sep = ", ";
    };
    if (s.total_time_ms) add(format("total-time %" PRId64 " ms", *s.total_time_ms));
    if (s.downtime_ms) add(format("downtime %" PRId64 " ms", *s.downtime_ms));
    if (s.setup_time_ms) add(format("setup-time %" PRId64 " ms", *s.setup_time_ms));
    add("transferred " + size_text(s.transferred));
    if (s.total_time_ms && *s.total_time_ms > 0) {
        add("throughput " + rate_text(static_cast<double>(s.transferred) * 1000 /
                                      static_cast<double>(*s.total_time_ms)));
    }
    return line;
}

Result<int> follow_migration(QmpClient& client, bool json) {
    SigintGuard guard;
    g_interrupted = 0;
    ProgressPrinter printer(json);
    RateMeter meter;
    bool cancel_sent = false;
    for (;;) {
        if (g_interrupted && !cancel_sent) {
            printer.break_line();
            std::fputs("moltctl: interrupted: cancelling the migration\n", stderr);
            Result<Json> r = client.execute("migrate_cancel");
            if (!r) return std::move(r).error().with_context("migrate_cancel");
            cancel_sent = true;
        }
        Json info = MOLT_TRY(client.execute("query-migrate"));
        MigrationSample s = parse_migration_sample(info.value());
        if (s.status.empty()) return Error("query-migrate: the server has no migration");
        if (migration_over(s.status)) {
            printer.final(info, s);
            if (s.status == "completed") return 0;
            // A cancelled migration's error-desc only echoes the cancel.
            std::string why = "migration " + s.status;
            if (s.status == "failed" && !s.error_desc.empty()) why += ": " + s.error_desc;
            std::fprintf(stderr, "moltctl: %s\n", why.c_str());
            return 1;
        }
        printer.sample(info, s, meter.add(Clock::now(), s.transferred));
        pause_between_polls();
    }
}

}  // namespace molt::cli
