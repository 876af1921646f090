// What a backend being created needs to know about migration: the early
// parameters (DESIGN.md "Early migration parameters") and whether this
// process is the destination of an incoming migration.  Built by the VMM
// right after the command line is parsed, before any backend exists, and
// handed by reference to each backend's create(); the only way backends
// learn the mode.
#pragma once

#include "migration/cpr_state.h"
#include "migration/parameters.h"

namespace molt::migration {

struct EarlyMigration {
    const ParameterStore& params;
    bool incoming;   // an -incoming channel or defer was given
    // cpr-transfer, cpr-exec: what the previous process handed over (each
    // backend takes its own fds out); null otherwise.
    CprState* cpr = nullptr;

    // RAM arrives as fds from the previous process (cpr-transfer, cpr-exec).
    bool adopts_memory() const {
        api::MigMode m = params.mode();
        return incoming && (m == api::MigMode::CprTransfer || m == api::MigMode::CprExec);
    }
    // TAP fds arrive from the previous process (backend-transfer).
    bool adopts_tap() const {
        return incoming && params.transfers(api::BackendTransfer::VirtioNetTap);
    }
};

}  // namespace molt::migration
