// Benchmark: reading a 10-member MigrationParameters, as `-incoming
// config:` or migrate-set-parameters would, from keyval text and from the
// equivalent JSON; each through the whole path (parse, typed visit with
// coercion, validation) and through the parser alone.  Prints one line
// per case: "NAME ns_per_op" (best of 5 rounds), for bench/run.py.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "qapi-visit-migration.h"
#include "runtime/json.h"
#include "runtime/keyval.h"
#include "runtime/visit.h"

namespace {

constexpr std::string_view kKeyval =
    "announce-initial=100,announce-max=1000,announce-rounds=10,announce-step=200,"
    "cpu-throttle-initial=30,cpu-throttle-increment=5,max-bandwidth=1G,"
    "downtime-limit=500,multifd-channels=8,mode=cpr-transfer";
constexpr std::string_view kJson =
    R"({"announce-initial": 100, "announce-max": 1000, "announce-rounds": 10, )"
    R"("announce-step": 200, "cpu-throttle-initial": 30, "cpu-throttle-increment": 5, )"
    R"("max-bandwidth": 1073741824, "downtime-limit": 500, "multifd-channels": 8, )"
    R"("mode": "cpr-transfer"})";

template <class F>
double best_ns_per_op(long iterations, F&& body) {
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        auto start = std::chrono::steady_clock::now();
        for (long i = 0; i < iterations; i++) body();
        std::chrono::duration<double, std::nano> d = std::chrono::steady_clock::now() - start;
        double per_op = d.count() / static_cast<double>(iterations);
        if (per_op < best) best = per_op;
    }
    return best;
}

// The whole path must succeed and agree, or the numbers mean nothing.
bool same_result() {
    auto a = molt::from_str<molt::api::MigrationParameters>(kKeyval);
    auto b = molt::from_str<molt::api::MigrationParameters>(kJson);
    return a && b && *a == *b && a->multifd_channels == 8;
}

}  // namespace

int main(int argc, char** argv) {
    long n = argc > 1 ? std::atol(argv[1]) : 100000;
    if (n <= 0 || !same_result()) {
        std::fprintf(stderr, "keyval-bench: inputs do not parse to the same value\n");
        return 1;
    }
    unsigned long sink = 0;
    auto keyval_full = best_ns_per_op(n, [&] {
        auto r = molt::from_str<molt::api::MigrationParameters>(kKeyval);
        sink += r ? *r->multifd_channels : 0u;
    });
    auto json_full = best_ns_per_op(n, [&] {
        auto r = molt::from_str<molt::api::MigrationParameters>(kJson);
        sink += r ? *r->multifd_channels : 0u;
    });
    auto keyval_parse = best_ns_per_op(n, [&] {
        auto r = molt::keyval_parse(kKeyval);
        sink += r ? r->value().MemberCount() : 0u;
    });
    auto json_parse = best_ns_per_op(n, [&] {
        auto r = molt::Json::parse(kJson);
        sink += r ? r->value().MemberCount() : 0u;
    });
    std::printf("keyval-parse-visit-validate %.0f\n", keyval_full);
    std::printf("json-parse-visit-validate %.0f\n", json_full);
    std::printf("keyval-parse-only %.0f\n", keyval_parse);
    std::printf("json-parse-only %.0f\n", json_parse);
    return sink == 0;  // never: keeps the loops from being optimised away
}
