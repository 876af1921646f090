// Unit tests of runtime/fault_inject: arming by name and pass, once only,
// from the environment, and unknown names refused.
#include <doctest/doctest.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/fault_inject.h"

using namespace molt;

namespace {

struct Disarmed {
    Disarmed() { fault::disarm_all(); }
    ~Disarmed() {
        fault::disarm_all();
        unsetenv(fault::kEnv);
    }
};

}  // namespace

TEST_CASE("an armed point fails on its nth pass, once") {
    Disarmed d;
    CHECK(fault::check("src-section"));   // unarmed: passes
    REQUIRE(fault::arm("src-section", 3));
    CHECK(fault::check("src-section"));
    CHECK(fault::check("src-end"));       // other points are not counted
    CHECK(fault::check("src-section"));
    Result<void> third = fault::check("src-section");
    REQUIRE_FALSE(third);
    CHECK(third.error().message() == "injected fault at src-section");
    CHECK(fault::check("src-section"));   // once: disarmed after it fired
}

TEST_CASE("unknown points and a zeroth pass are refused") {
    Disarmed d;
    Result<void> r = fault::arm("src-nowhere");
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "unknown fault injection point 'src-nowhere'");
    CHECK_FALSE(fault::arm("src-end", 0));
    for (const fault::Point& p : fault::points()) {
        CHECK(fault::arm(p.name));
        CHECK_FALSE(p.where.empty());
    }
}

TEST_CASE("MOLT_FAULT_INJECT arms a list of points") {
    Disarmed d;
    setenv(fault::kEnv, "dst-load-state,dst-ram@2", 1);
    REQUIRE(fault::arm_from_environment());
    CHECK_FALSE(fault::check("dst-load-state"));
    CHECK(fault::check("dst-ram"));
    CHECK_FALSE(fault::check("dst-ram"));
    for (const char* bad : {"dst-ram@", "dst-ram@x", "dst-ram@0", "nowhere", "dst-ram@-1"}) {
        setenv(fault::kEnv, bad, 1);
        Result<void> r = fault::arm_from_environment();
        INFO(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().message().rfind("MOLT_FAULT_INJECT", 0) == 0);
    }
}

TEST_CASE("points are checked from several threads, each fires once") {
    Disarmed d;
    REQUIRE(fault::arm("dst-ram", 500));
    std::vector<std::thread> threads;
    std::atomic<int> fired{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (!fault::check("dst-ram")) ++fired;
            }
        });
    }
    for (std::thread& t : threads) t.join();
    CHECK(fired == 1);
}
