// Fault injection for tests (docs/hardening.md): named points on the paths
// of migration and CPR that can be made to fail, so that tests show what
// each failure leaves behind - the guest running in exactly one process,
// nothing lost.
//
// A point is armed to fail on its n-th pass (1: the next one), once; then
// it is disarmed.  Two ways to arm: the environment variable
// MOLT_FAULT_INJECT=POINT[@N][,POINT[@N]...], read at start-up (the new
// process of a migration or CPR update fails that way), and the QMP command
// x-inject-fault (feature unstable; vmm/qmp_control.cpp).  The code on the
// path calls check(POINT): an Error ("injected fault at POINT") when due.
// Unarmed, check() costs one relaxed atomic load.  Every point is in
// kPoints: arming an unknown name is an error, not a silent no-op.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace molt::fault {

// The environment variable read by arm_from_environment().
inline constexpr const char* kEnv = "MOLT_FAULT_INJECT";

struct Point {
    std::string_view name;
    std::string_view where;   // the step it fails, for docs and errors
};

// Every point there is (docs/hardening.md lists them with the outcome).
std::span<const Point> points();

// Arms `name` to fail on its nth pass from now (nth >= 1).
Result<void> arm(std::string_view name, uint64_t nth = 1);
// Arms what MOLT_FAULT_INJECT names (nothing if it is unset).
Result<void> arm_from_environment();
void disarm_all();

// The step `name` is about to run: an Error if it is armed and due.
Result<void> check(std::string_view name);

}  // namespace molt::fault
