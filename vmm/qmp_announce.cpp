// QMP handler of schema/net.json's announce-self: starts a named sequence
// of self-announcement rounds (vmm/self_announce.h); the first round is
// sent before the reply.
#include "qapi-commands-net.h"
#include "vmm/context.h"
#include "vmm/self_announce.h"

namespace molt::api {

Result<void> qmp_announce_self(qmp::Context& ctx, const AnnounceParameters& arg) {
    vmm::AnnounceRounds rounds{static_cast<uint64_t>(arg.initial), static_cast<uint64_t>(arg.max),
                               static_cast<uint64_t>(arg.rounds), static_cast<uint64_t>(arg.step),
                               arg.interfaces.value_or(std::vector<std::string>{})};
    return ctx.vmm.announcer->start(arg.id.value_or(""), std::move(rounds));
}

}  // namespace molt::api
