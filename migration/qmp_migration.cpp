// QMP handlers of schema/migration.json: the parameter and capability
// commands act on the ParameterStore; the commands that move a guest
// (migrate, migrate-incoming, migrate_cancel, query-migrate) on the VMM's
// MigrationControl (vmm/migration_control.h).
#include "cli/command_line.h"
#include "qapi-commands-migration.h"
#include "runtime/fault_inject.h"
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

struct Addresses {
    MigrationAddress main;
    std::optional<MigrationAddress> cpr;   // cpr-transfer's channel
};

// The channels' addresses from either form (at most one of each type).
Result<Addresses> addresses(const std::optional<std::string>& uri,
                            const std::optional<std::vector<MigrationChannel>>& channels) {
    if ((uri && channels) || (!uri && !channels)) {
        return Error("Need either 'uri' or 'channels' argument");
    }
    if (uri) return Addresses{MOLT_TRY(cli::parse_migration_uri(*uri)), std::nullopt};
    std::optional<MigrationAddress> main, cpr;
    for (const MigrationChannel& c : *channels) {
        std::optional<MigrationAddress>& slot = c.channel_type == MigrationChannelType::Cpr ? cpr : main;
        if (slot) return Error("Channel list has more than one " + std::string(to_string(c.channel_type)) + " entry");
        slot = *c.addr;
    }
    if (!main) return Error("Channel list has no main entry");
    return Addresses{*main, cpr};
}

}  // namespace

Result<void> qmp_migrate(Context& ctx, const std::optional<std::string>& uri,
                         const std::optional<std::vector<MigrationChannel>>& channels,
                         std::optional<bool> resume) {
    if (resume.value_or(false)) return Error("postcopy (resume) is not supported by this molt");
    Addresses a = MOLT_TRY(addresses(uri, channels));
    return ctx.vmm.migration->migrate(a.main, a.cpr);
}

Result<void> qmp_migrate_incoming(Context& ctx, const std::optional<std::string>& uri,
                                  const std::optional<std::vector<MigrationChannel>>& channels,
                                  std::optional<bool> exit_on_error) {
    if (!ctx.vmm.incoming_defer && !ctx.vmm.migration->incoming_retry_allowed()) {
        return Error("'-incoming' was not specified on the command line");
    }
    Addresses a = MOLT_TRY(addresses(uri, channels));
    if (a.cpr) return Error("the cpr channel can only be given on the command line (-incoming)");
    return ctx.vmm.migration->incoming(a.main, exit_on_error.value_or(true));
}

Result<void> qmp_migrate_cancel(Context& ctx) {
    ctx.vmm.migration->cancel();
    return ok();
}

Result<void> qmp_x_inject_fault(Context&, const std::string& point, std::optional<uint64_t> nth) {
    return fault::arm(point, nth.value_or(1));
}

}  // namespace molt::api
