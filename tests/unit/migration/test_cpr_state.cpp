// Unit tests of the CPR state (migration/cpr_state): real memfds over a
// real UNIX socketpair with SCM_RIGHTS - the same memory arrives under
// the same names, in batches past 16 fds - and through the cpr-exec
// memfd + environment variable; damaged or inconsistent states are
// refused with a clear message.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "migration/cpr_state.h"

using namespace molt;
using namespace molt::migration;

namespace {

// A memfd holding `text`.
UniqueFd memfd_with(const std::string& text) {
    UniqueFd fd(memfd_create("test", MFD_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    return fd;
}

std::string contents(int fd) {
    char buf[64] = {};
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    REQUIRE(n >= 0);
    return std::string(buf, static_cast<size_t>(n));
}

ino_t inode(int fd) {
    struct stat st {};
    REQUIRE(fstat(fd, &st) == 0);
    return st.st_ino;
}

struct Pair {
    Pair() {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
    UniqueFd a, b;
};

}  // namespace

TEST_CASE("the fds arrive over a socket under their names, the same files") {
    CprState out;
    std::vector<ino_t> inodes;
    const int n = 40;   // three messages' worth
    for (int i = 0; i < n; ++i) {
        UniqueFd fd = memfd_with("memory " + std::to_string(i));
        inodes.push_back(inode(fd.get()));
        out.add(i == 0 ? "memory-backend/ram0" : "tap/net0", i, std::move(fd));
    }
    Pair p;
    std::thread sender([&] { REQUIRE(out.send(p.a.get())); });
    Result<CprState> in = CprState::receive(p.b.get(), 5000);
    sender.join();
    REQUIRE_MESSAGE(in, (in ? "" : in.error().message()));
    CHECK(in->size() == n);
    Result<UniqueFd> ram = in->take("memory-backend/ram0", 0);
    REQUIRE(ram);
    CHECK(inode(ram->get()) == inodes[0]);
    CHECK(contents(ram->get()) == "memory 0");
    CHECK((fcntl(ram->get(), F_GETFD) & FD_CLOEXEC) != 0);
    for (int i = 1; i < n; ++i) {
        Result<UniqueFd> tap = in->take("tap/net0", i);
        REQUIRE(tap);
        CHECK(inode(tap->get()) == inodes[static_cast<size_t>(i)]);
    }
    CHECK(in->left().empty());
    Result<UniqueFd> again = in->take("memory-backend/ram0", 0);
    REQUIRE(!again);
    CHECK(again.error().message() == "the CPR state has no file descriptor for memory-backend/ram0/0");
}

TEST_CASE("an empty state is a valid state") {
    CprState out;
    Pair p;
    REQUIRE(out.send(p.a.get()));
    Result<CprState> in = CprState::receive(p.b.get(), 1000);
    REQUIRE(in);
    CHECK(in->size() == 0);
}

TEST_CASE("damaged states are refused") {
    auto refuse = [](const std::string& bytes, bool close_early) {
        Pair p;
        REQUIRE(write(p.a.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        if (close_early) p.a.reset();
        Result<CprState> in = CprState::receive(p.b.get(), 300);
        REQUIRE(!in);
        return in.error().message();
    };
    auto header = [](uint32_t magic, uint32_t version, uint32_t len, uint32_t fds) {
        std::string h;
        for (uint32_t v : {magic, version, len, fds}) {
            for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>(v >> s));
        }
        return h;
    };
    CHECK(refuse(header(0x51435052, 1, 0, 0), false) == "CPR state: bad magic (not a molt CPR state)");
    CHECK(refuse(header(0x4d435052, 2, 0, 0), false) ==
          "CPR state: version 2 is not supported (this molt reads 1)");
    CHECK(refuse(header(0x4d435052, 1, 1 << 30, 0), false) ==
          "CPR state: 1073741824 bytes of JSON announced, more than the limit of 1048576");
    CHECK(refuse(header(0x4d435052, 1, 100, 0) + "{}", true) ==
          "CPR state: the previous molt closed the cpr channel early");
    CHECK(refuse(header(0x4d435052, 1, 100, 0) + "{}", false) ==
          "CPR state: timed out waiting for the previous molt");
    std::string one = R"({"fds": [{"name": "memory-backend/ram0", "index": 0}]})";
    CHECK(refuse(header(0x4d435052, 1, static_cast<uint32_t>(one.size()), 1) + one, false) ==
          "CPR state: 1 file descriptors announced, 0 received");
    CHECK(refuse(header(0x4d435052, 1, static_cast<uint32_t>(one.size()), 2) + one, false) ==
          "CPR state: the header and the list disagree on the fd count");
    std::string bad = R"({"fds": [{"name": "x", "index": -1}]})";
    CHECK(refuse(header(0x4d435052, 1, static_cast<uint32_t>(bad.size()), 0) + bad, false).rfind(
              "CPR state: ", 0) == 0);
}

TEST_CASE("limits: one over each bound of the CPR state is refused before it is read") {
    auto header = [](uint32_t len, uint32_t fds) {
        std::string h = "MCPR";
        for (uint32_t v : {1u, len, fds}) {
            for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>(v >> s));
        }
        return h;
    };
    auto refuse = [](const std::string& bytes) {
        Pair p;
        REQUIRE(write(p.a.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        Result<CprState> in = CprState::receive(p.b.get(), 300);
        REQUIRE(!in);
        return in.error().message();
    };
    CHECK(refuse(header(CprState::kMaxJson + 1, 0)) ==
          "CPR state: 1048577 bytes of JSON announced, more than the limit of 1048576");
    CHECK(refuse(header(2, CprState::kMaxFds + 1)) ==
          "CPR state: 1025 file descriptors announced, more than the limit of 1024");
    // The schema's ranges hold too (index 0..1023).
    std::string big = R"({"fds": [{"name": "tap/net0", "index": 1024}]})";
    CHECK(refuse(header(static_cast<uint32_t>(big.size()), 1) + big).find("CPR state: ") == 0);
    CHECK(refuse(header(static_cast<uint32_t>(big.size()), 1) + big).find("1023") != std::string::npos);
}

TEST_CASE("limits: cpr-exec fd numbers are checked before they are adopted") {
    auto from_env = [](const std::string& json) {
        std::string bytes = "MCPR";
        for (uint32_t v : {1u, static_cast<uint32_t>(json.size()), 1u}) {
            for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<char>(v >> s));
        }
        bytes += json;
        UniqueFd state = memfd_with(bytes);
        setenv(kCprExecEnv, std::to_string(state.release()).c_str(), 1);
        Result<CprState> in = CprState::from_exec_env();
        REQUIRE(!in);
        return in.error().message();
    };
    UniqueFd ram = memfd_with("guest RAM");
    std::string n = std::to_string(ram.get());
    // Beyond int (would be truncated to another fd), stdio, and a number
    // named twice (two owners would close it twice).
    CHECK(from_env(R"({"fds": [{"name": "m", "index": 0, "fd": 4294967299}]})").find("1048575") !=
          std::string::npos);
    CHECK(from_env(R"({"fds": [{"name": "m", "index": 0, "fd": 1}]})") ==
          "CPR state: m names fd 1, one of stdin, stdout and stderr");
    std::string twice = R"({"fds": [{"name": "m", "index": 0, "fd": )" + n + R"(}, {"name": "t", "index": 0, "fd": )" +
                        n + "}]}";
    std::string bytes = "MCPR";
    for (uint32_t v : {1u, static_cast<uint32_t>(twice.size()), 2u}) {
        for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<char>(v >> s));
    }
    bytes += twice;
    UniqueFd state = memfd_with(bytes);
    setenv(kCprExecEnv, std::to_string(state.release()).c_str(), 1);
    Result<CprState> in = CprState::from_exec_env();
    REQUIRE(!in);
    CHECK(in.error().message() == "CPR state: fd " + n + " is named twice");
    CHECK(fcntl(ram.get(), F_GETFD) >= 0);   // nothing was adopted and closed
    // A memfd longer than any valid state.
    std::string huge(CprState::kMaxJson + 17, ' ');
    UniqueFd big = memfd_with(huge);
    setenv(kCprExecEnv, std::to_string(big.release()).c_str(), 1);
    Result<CprState> too_long = CprState::from_exec_env();
    REQUIRE(!too_long);
    CHECK(too_long.error().message() == "CPR state: its memfd holds more than the limit of 1048592 bytes");
}

TEST_CASE("cpr-exec: the state in a memfd named by the environment") {
    CprState out;
    UniqueFd ram = memfd_with("guest RAM");
    ino_t ino = inode(ram.get());
    out.add("memory-backend/ram0", 0, std::move(ram));
    REQUIRE(out.set_cloexec(false));
    Result<UniqueFd> state = out.to_memfd();
    REQUIRE(state);
    // The old process would exec now; here the same process reads it back
    // (the numbers are the same ones after exec).
    int number = state->release();
    setenv(kCprExecEnv, std::to_string(number).c_str(), 1);
    Result<CprState> in = CprState::from_exec_env();
    REQUIRE_MESSAGE(in, (in ? "" : in.error().message()));
    CHECK(std::getenv(kCprExecEnv) == nullptr);
    CHECK(fcntl(number, F_GETFD) < 0);   // the state's memfd is closed
    Result<UniqueFd> got = in->take("memory-backend/ram0", 0);
    REQUIRE(got);
    CHECK(inode(got->get()) == ino);
    CHECK((fcntl(got->get(), F_GETFD) & FD_CLOEXEC) != 0);   // close-on-exec again
    // `out` and `got` own the same fd number here: let only one close it.
    (void)got->release();

    setenv(kCprExecEnv, "999999", 1);
    Result<CprState> none = CprState::from_exec_env();
    REQUIRE(!none);
    CHECK(none.error().message() == "MOLT_CPR_EXEC_STATE=999999 names no open file descriptor");
    Result<CprState> unset = CprState::from_exec_env();
    REQUIRE(unset);
    CHECK(unset->size() == 0);
}
