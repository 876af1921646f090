// Fault injection for tests; see fault_inject.h.
#include "runtime/fault_inject.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

namespace molt::fault {

namespace {

constexpr Point kPoints[] = {
    // The source of a migration (any mode).
    {"src-connect", "opening a channel to the destination (main, multifd, or cpr-transfer's main)"},
    {"src-header", "writing the stream's header"},
    {"src-ram", "sending a pass over guest RAM"},
    {"src-save-state", "saving the device state once the guest stopped"},
    {"src-section", "writing a device section (N: the Nth)"},
    {"src-end", "writing the end of the stream"},
    {"src-verdict", "reading the destination's verdict"},
    {"cpr-connect", "cpr-transfer: connecting the cpr channel"},
    {"cpr-send-state", "cpr-transfer: sending the CPR state (guest RAM's and the TAPs' fds)"},
    {"cpr-exec", "cpr-exec: executing the new program"},
    // The destination, or the new process of a CPR update.
    {"dst-header", "reading the stream's header"},
    {"dst-ram", "receiving guest RAM (N: the Nth RAM record)"},
    {"dst-section", "receiving a device section (N: the Nth)"},
    {"dst-load-state", "loading the device state into the machine"},
    {"dst-adopt-tap", "taking over a TAP that came with the stream (backend-transfer)"},
    {"dst-verdict", "sending the verdict to the source"},
    {"cpr-receive-state", "the new process: reading the CPR state"},
    {"cpr-adopt-ram", "the new process: mapping the previous process's guest RAM"},
    {"cpr-adopt-tap", "the new process: taking over a TAP from the CPR state"},
};

std::atomic<bool> g_armed{false};   // anything armed at all: check()'s fast path
std::mutex g_lock;
std::map<std::string, uint64_t, std::less<>> g_due;   // point -> passes until it fails

bool known(std::string_view name) {
    for (const Point& p : kPoints) {
        if (p.name == name) return true;
    }
    return false;
}

}  // namespace

std::span<const Point> points() { return kPoints; }

Result<void> arm(std::string_view name, uint64_t nth) {
    if (!known(name)) return Error("unknown fault injection point '" + std::string(name) + "'");
    if (nth == 0) return Error("fault injection: the pass to fail counts from 1");
    std::lock_guard guard(g_lock);
    g_due[std::string(name)] = nth;
    g_armed.store(true, std::memory_order_relaxed);
    return ok();
}

Result<void> arm_from_environment() {
    const char* spec = std::getenv(kEnv);
    if (!spec) return ok();
    std::string_view rest(spec);
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        size_t at = item.find('@');
        uint64_t nth = 1;
        if (at != std::string_view::npos) {
            std::string count(item.substr(at + 1));
            bool digits = !count.empty() && count.size() < 19 &&
                          count.find_first_not_of("0123456789") == std::string::npos;
            nth = digits ? std::strtoull(count.c_str(), nullptr, 10) : 0;
            if (nth == 0) {
                return Error(std::string(kEnv) + ": '" + std::string(item) + "': the pass after '@' is a number from 1");
            }
            item = item.substr(0, at);
        }
        Result<void> r = arm(item, nth);
        if (!r) return Error(r.error()).with_context(kEnv);
    }
    return ok();
}

void disarm_all() {
    std::lock_guard guard(g_lock);
    g_due.clear();
    g_armed.store(false, std::memory_order_relaxed);
}

Result<void> check(std::string_view name) {
    if (!g_armed.load(std::memory_order_relaxed)) return ok();
    std::lock_guard guard(g_lock);
    auto it = g_due.find(name);
    if (it == g_due.end() || --it->second > 0) return ok();
    g_due.erase(it);
    if (g_due.empty()) g_armed.store(false, std::memory_order_relaxed);
    return Error("injected fault at " + std::string(name));
}

}  // namespace molt::fault
