// QMP handlers of schema/migration.json: the parameter and capability
// commands act on the ParameterStore; the commands that move a guest
// (migrate, migrate-incoming, migrate_cancel, query-migrate) on the VMM's
// MigrationControl (vmm/migration_control.h).
#include "cli/command_line.h"
#include "qapi-commands-migration.h"
#include "vmm/context.h"
#include "vmm/migration_control.h"

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

Result<MigrationInfo> qmp_query_migrate(Context& ctx) {
    // Before any migration in this process: {} as QEMU.
    return ctx.vmm.migration ? ctx.vmm.migration->info() : MigrationInfo{};
}

namespace {

// The main channel's address from either form; a cpr channel belongs to
// the CPR modes, which arrive later.
Result<MigrationAddress> main_address(const std::optional<std::string>& uri,
                                      const std::optional<std::vector<MigrationChannel>>& channels) {
    if ((uri && channels) || (!uri && !channels)) {
        return Error("Need either 'uri' or 'channels' argument");
    }
    if (uri) return cli::parse_migration_uri(*uri);
    std::optional<MigrationAddress> main;
    for (const MigrationChannel& c : *channels) {
        if (c.channel_type == MigrationChannelType::Cpr) {
            return Error("a cpr channel (cpr-transfer) is not supported yet by this molt");
        }
        main = *c.addr;
    }
    if (!main) return Error("Channel list has no main entry");
    return *main;
}

}  // namespace

Result<void> qmp_migrate(Context& ctx, const std::optional<std::string>& uri,
                         const std::optional<std::vector<MigrationChannel>>& channels,
                         std::optional<bool> resume) {
    if (resume.value_or(false)) return Error("postcopy (resume) is not supported by this molt");
    MigrationAddress addr = MOLT_TRY(main_address(uri, channels));
    return ctx.vmm.migration->migrate(addr);
}

Result<void> qmp_migrate_incoming(Context& ctx, const std::optional<std::string>& uri,
                                  const std::optional<std::vector<MigrationChannel>>& channels,
                                  std::optional<bool> exit_on_error) {
    if (!ctx.vmm.incoming_defer) return Error("'-incoming' was not specified on the command line");
    MigrationAddress addr = MOLT_TRY(main_address(uri, channels));
    return ctx.vmm.migration->incoming(addr, exit_on_error.value_or(true));
}

Result<void> qmp_migrate_cancel(Context& ctx) {
    ctx.vmm.migration->cancel();
    return ok();
}

}  // namespace molt::api
