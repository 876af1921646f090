// The migration parameter store: the one place molt keeps
// MigrationParameters, capabilities included (DESIGN.md "Early migration
// parameters").
//
// Built during start-up, before any backend exists, from four layers,
// lowest first: the schema defaults, the machine type's compat
// properties, `-global migration.KEY=VALUE`, and `-incoming config:`.
// The merged set is cross-checked once; then backends read it while they
// are created (memory backends adopt preserved memfds and the TAP backend
// adopts transferred fds when mode and backend-transfer say so), and QMP
// changes it (migrate-set-parameters, migrate-set-capabilities; checked
// as a whole, all or nothing).  It is passed by reference to whoever
// needs it; there is no global copy.  Main thread only.
#pragma once

#include <string>
#include <vector>

#include "qapi-types-migration.h"
#include "runtime/result.h"

namespace molt::migration {

// KEY=VALUE for the migration object, from a machine type's compat table
// or -global migration.KEY=VALUE; VALUE is read with the keyval rules.
struct ParameterProperty {
    std::string key;
    std::string value;
};

class ParameterStore {
public:
    // The start-up set; errors carry QEMU's texts ("can't apply global
    // migration.K=V: ...", "Parameter 'K' expects ...").
    static Result<ParameterStore> create(const std::vector<ParameterProperty>& compat,
                                         const std::vector<ParameterProperty>& globals,
                                         const api::MigrationParameters* config);

    // The accessor: every member present.
    const api::MigrationParameters& get() const { return m_params; }
    api::MigMode mode() const { return *m_params.mode; }
    bool transfers(api::BackendTransfer backend) const;

    // migrate-set-parameters: members present in `changes` replace the
    // current ones if the resulting set passes every check.
    Result<void> set(const api::MigrationParameters& changes);
    // migrate-set-capabilities.
    Result<void> set_capabilities(const std::vector<api::MigrationCapabilityStatus>& caps);
    // query-migrate-capabilities: every capability, in schema order.
    std::vector<api::MigrationCapabilityStatus> capabilities() const;

private:
    explicit ParameterStore(api::MigrationParameters p) : m_params(std::move(p)) {}
    api::MigrationParameters m_params;
};

// Members of `over` that are present replace those of `base`.
Result<api::MigrationParameters> merge(const api::MigrationParameters& base,
                                       const api::MigrationParameters& over);

// The checks of a complete set: each member's range, the cross-member
// rules, and which capabilities may be combined (QEMU's
// migrate_params_check and migrate_caps_check).
Result<void> check_parameters(const api::MigrationParameters& p);

}  // namespace molt::migration
