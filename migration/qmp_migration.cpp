// QMP handlers of schema/migration.json: the parameter and capability
// commands act on the ParameterStore; the commands that move a guest
// (migrate, migrate-incoming, migrate_cancel) arrive with the migration
// engine and until then say so.
#include "qapi-commands-migration.h"
#include "vmm/context.h"

namespace molt::api {

using qmp::Context;

Result<void> qmp_migrate_set_parameters(Context& ctx, const MigrationParameters& changes) {
    return ctx.vmm.params.set(changes);
}

Result<MigrationParameters> qmp_query_migrate_parameters(Context& ctx) {
    return ctx.vmm.params.get();
}

Result<void> qmp_migrate_set_capabilities(Context& ctx,
                                          const std::vector<MigrationCapabilityStatus>& caps) {
    return ctx.vmm.params.set_capabilities(caps);
}

Result<std::vector<MigrationCapabilityStatus>> qmp_query_migrate_capabilities(Context& ctx) {
    return ctx.vmm.params.capabilities();
}

Result<MigrationInfo> qmp_query_migrate(Context&) {
    // No migration has run in this process: QEMU answers {} then too.
    return MigrationInfo{};
}

Result<void> qmp_migrate(Context&, const std::optional<std::string>& uri,
                         const std::optional<std::vector<MigrationChannel>>& channels,
                         std::optional<bool>) {
    if (uri && channels) return Error("Need either 'uri' or 'channels' argument");
    if (!uri && !channels) return Error("Need either 'uri' or 'channels' argument");
    return Error("migration is not supported yet by this molt");
}

Result<void> qmp_migrate_incoming(Context& ctx, const std::optional<std::string>& uri,
                                  const std::optional<std::vector<MigrationChannel>>& channels,
                                  std::optional<bool>) {
    if (!ctx.vmm.incoming_defer) return Error("'-incoming' was not specified on the command line");
    if (uri && channels) return Error("Need either 'uri' or 'channels' argument");
    if (!uri && !channels) return Error("Need either 'uri' or 'channels' argument");
    return Error("receiving a migration is not supported yet by this molt");
}

Result<void> qmp_migrate_cancel(Context&) { return ok(); }

}  // namespace molt::api
