// Unit tests of the migration parameter store (migration/parameters): the
// start-up layers and their order, merging, all-or-nothing updates, the
// capability view, and what EarlyMigration tells backends.
#include <doctest/doctest.h>

#include "migration/early.h"
#include "migration/parameters.h"
#include "qapi-visit-migration.h"
#include "runtime/visit.h"

using namespace molt;
using migration::EarlyMigration;
using migration::ParameterProperty;
using migration::ParameterStore;

namespace {

api::MigrationParameters config(std::string_view keyval) {
    return *from_keyval<api::MigrationParameters>(keyval);
}

}  // namespace

TEST_CASE("parameter store: defaults < compat < -global < config") {
    ParameterStore d = *ParameterStore::create({}, {}, nullptr);
    CHECK(*d.get().downtime_limit == 300);
    CHECK(d.mode() == api::MigMode::Normal);
    CHECK(d.get().backend_transfer->empty());

    std::vector<ParameterProperty> compat{{"downtime-limit", "50"}, {"multifd-channels", "3"}};
    std::vector<ParameterProperty> globals{{"downtime-limit", "100"}};
    ParameterStore g = *ParameterStore::create(compat, globals, nullptr);
    CHECK(*g.get().downtime_limit == 100);
    CHECK(*g.get().multifd_channels == 3);

    api::MigrationParameters c = config("downtime-limit=200,mode=cpr-transfer");
    ParameterStore all = *ParameterStore::create(compat, globals, &c);
    CHECK(*all.get().downtime_limit == 200);
    CHECK(*all.get().multifd_channels == 3);
    CHECK(all.mode() == api::MigMode::CprTransfer);
}

TEST_CASE("parameter store: -global errors name the property") {
    auto r = ParameterStore::create({}, {{"nosuch", "1"}}, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() ==
          "can't apply global migration.nosuch=1: Property 'migration.nosuch' not found");
    r = ParameterStore::create({}, {{"downtime-limit", "x"}}, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() ==
          "can't apply global migration.downtime-limit=x: Parameter 'downtime-limit' expects integer");
    // A value with a comma is one value, not two keyval parameters.
    r = ParameterStore::create({}, {{"cpr-exec-command.0", "a,b"}}, nullptr);
    CHECK_FALSE(r);
}

TEST_CASE("parameter store: the merged set is checked once, across layers") {
    api::MigrationParameters c = config("cpu-throttle-initial=60");
    auto r = ParameterStore::create({}, {{"max-cpu-throttle", "50"}}, &c);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() ==
          "Parameter 'max-cpu-throttle' expects an integer in the range of cpu-throttle-initial to 99");
}

TEST_CASE("parameter store: set() changes only what is present, or nothing") {
    ParameterStore s = *ParameterStore::create({}, {}, nullptr);
    REQUIRE(s.set(config("max-bandwidth=1G")));
    CHECK(*s.get().max_bandwidth == uint64_t{1} << 30);
    CHECK(*s.get().downtime_limit == 300);
    api::MigrationParameters bad = config("downtime-limit=10,multifd=on,xbzrle=on");
    auto r = s.set(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Multifd is not compatible with xbzrle");
    CHECK(*s.get().downtime_limit == 300);
    CHECK_FALSE(*s.get().multifd);
}

TEST_CASE("parameter store: capabilities are the bool members") {
    ParameterStore s = *ParameterStore::create({}, {}, nullptr);
    auto caps = s.capabilities();
    REQUIRE(caps.size() == 22);
    CHECK(caps[0].capability == api::MigrationCapability::Xbzrle);
    api::MigrationCapabilityStatus on{};
    on.capability = api::MigrationCapability::Events;
    on.state = true;
    REQUIRE(s.set_capabilities({on}));
    CHECK(*s.get().events);
    on.capability = api::MigrationCapability::SwitchoverAck;
    auto r = s.set_capabilities({on});
    REQUIRE_FALSE(r);
    CHECK_FALSE(*s.get().switchover_ack);
}

TEST_CASE("EarlyMigration: adoption only on a CPR destination") {
    api::MigrationParameters c = config("mode=cpr-transfer,backend-transfer.0=virtio-net-tap");
    ParameterStore cpr = *ParameterStore::create({}, {}, &c);
    CHECK(EarlyMigration{cpr, true}.adopts_memory());
    CHECK(EarlyMigration{cpr, true}.adopts_tap());
    CHECK_FALSE(EarlyMigration{cpr, false}.adopts_memory());
    CHECK_FALSE(EarlyMigration{cpr, false}.adopts_tap());
    api::MigrationParameters n = config("backend-transfer.0=virtio-net-tap");
    ParameterStore local = *ParameterStore::create({}, {}, &n);
    CHECK_FALSE(EarlyMigration{local, true}.adopts_memory());
    CHECK(EarlyMigration{local, true}.adopts_tap());
    ParameterStore d = *ParameterStore::create({}, {}, nullptr);
    CHECK_FALSE(EarlyMigration{d, true}.adopts_memory());
    CHECK_FALSE(EarlyMigration{d, true}.adopts_tap());
}
