// ParameterStore; see parameters.h.  Members are merged by name through
// the generated JSON visitors, so a member added to the schema needs no
// change here.
#include "migration/parameters.h"

#include "qapi-validate-migration.h"
#include "qapi-visit-migration.h"
#include "runtime/json.h"
#include "runtime/visit.h"

namespace molt::migration {

namespace {

using api::MigrationCapability;

Json to_tree(const api::MigrationParameters& p) {
    return *Json::parse(to_json(p));
}

Result<api::MigrationParameters> from_tree(const Json& tree) {
    return from_json<api::MigrationParameters>(tree.value());
}

bool has_member(const api::MigrationParameters& full, std::string_view key) {
    Json tree = to_tree(full);
    return tree.value().HasMember(rapidjson::StringRef(key.data(), key.size()));
}

// Escapes a keyval value: ',' is written ',,'.
std::string keyval_escape(std::string_view value) {
    std::string out;
    for (char c : value) {
        out.push_back(c);
        if (c == ',') out.push_back(',');
    }
    return out;
}

Result<api::MigrationParameters> apply_property(const api::MigrationParameters& base,
                                                const ParameterProperty& prop) {
    std::string what = "can't apply global migration." + prop.key + "=" + prop.value + ": ";
    if (prop.key.empty() || prop.key.find_first_of(".=,") != std::string::npos ||
        !has_member(base, prop.key)) {
        return Error(what + "Property 'migration." + prop.key + "' not found");
    }
    Result<api::MigrationParameters> one =
        from_keyval<api::MigrationParameters>(prop.key + "=" + keyval_escape(prop.value));
    if (!one) return Error(what + one.error().message());
    return merge(base, *one);
}

bool cap(const api::MigrationParameters& p, MigrationCapability c) {
    Json tree = to_tree(p);
    std::string_view name = to_string(c);
    auto it = tree.value().FindMember(rapidjson::StringRef(name.data(), name.size()));
    return it != tree.value().MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

Result<void> check_capabilities(const api::MigrationParameters& p) {
    auto on = [&](MigrationCapability c) { return cap(p, c); };
    if (on(MigrationCapability::XColo)) {
        return Error("molt was built without COLO support; x-colo cannot be enabled");
    }
    if (on(MigrationCapability::PostcopyRam)) {
        if (on(MigrationCapability::XIgnoreShared)) {
            return Error("Postcopy is not compatible with ignore-shared");
        }
        if (on(MigrationCapability::Multifd)) {
            return Error("Postcopy is not yet compatible with multifd");
        }
    }
    if (on(MigrationCapability::BackgroundSnapshot)) {
        static constexpr MigrationCapability kIncompatible[] = {
            MigrationCapability::PostcopyRam, MigrationCapability::DirtyBitmaps,
            MigrationCapability::PostcopyBlocktime, MigrationCapability::LateBlockActivate,
            MigrationCapability::ReturnPath, MigrationCapability::Multifd,
            MigrationCapability::PauseBeforeSwitchover, MigrationCapability::AutoConverge,
            MigrationCapability::ReleaseRam, MigrationCapability::RdmaPinAll,
            MigrationCapability::Xbzrle, MigrationCapability::XColo,
            MigrationCapability::ValidateUuid, MigrationCapability::ZeroCopySend,
        };
        for (MigrationCapability c : kIncompatible) {
            if (on(c)) {
                return Error("Background-snapshot is not compatible with " +
                             std::string(to_string(c)));
            }
        }
    }
    if (on(MigrationCapability::ZeroCopySend) &&
        (!on(MigrationCapability::Multifd) || on(MigrationCapability::Xbzrle))) {
        return Error("Zero copy only available for non-compressed non-TLS multifd migration");
    }
    if (on(MigrationCapability::PostcopyPreempt) && !on(MigrationCapability::PostcopyRam)) {
        return Error("Postcopy preempt requires postcopy-ram");
    }
    if (on(MigrationCapability::SwitchoverAck) && !on(MigrationCapability::ReturnPath)) {
        return Error("Capability 'switchover-ack' requires capability 'return-path'");
    }
    if (on(MigrationCapability::DirtyLimit)) {
        if (on(MigrationCapability::AutoConverge)) {
            return Error("dirty-limit conflicts with auto-converge either of then available currently");
        }
        return Error("dirty-limit requires KVM with accelerator property 'dirty-ring-size' set");
    }
    if (on(MigrationCapability::Multifd) && on(MigrationCapability::Xbzrle)) {
        return Error("Multifd is not compatible with xbzrle");
    }
    if (on(MigrationCapability::MappedRam)) {
        if (on(MigrationCapability::Xbzrle)) {
            return Error("Mapped-ram migration is incompatible with xbzrle");
        }
        if (on(MigrationCapability::PostcopyRam)) {
            return Error("Mapped-ram migration is incompatible with postcopy");
        }
    }
    return ok();
}

}  // namespace

Result<api::MigrationParameters> merge(const api::MigrationParameters& base,
                                       const api::MigrationParameters& over) {
    Json tree = to_tree(base);
    Json changes = to_tree(over);
    for (auto m = changes.value().MemberBegin(); m != changes.value().MemberEnd(); ++m) {
        JsonValue key(m->name, tree.allocator());
        JsonValue value(m->value, tree.allocator());
        tree.value().RemoveMember(m->name);
        tree.value().AddMember(key, value, tree.allocator());
    }
    return from_tree(tree);
}

Result<void> check_parameters(const api::MigrationParameters& p) {
    MOLT_TRY(validate(p));
    return check_capabilities(p);
}

Result<ParameterStore> ParameterStore::create(const std::vector<ParameterProperty>& compat,
                                              const std::vector<ParameterProperty>& globals,
                                              const api::MigrationParameters* config) {
    api::MigrationParameters p{};
    api::apply_defaults(p);
    for (const auto& prop : compat) p = MOLT_TRY(apply_property(p, prop));
    for (const auto& prop : globals) p = MOLT_TRY(apply_property(p, prop));
    if (config) p = MOLT_TRY(merge(p, *config));
    MOLT_TRY(check_parameters(p));
    return ParameterStore(std::move(p));
}

bool ParameterStore::transfers(api::BackendTransfer backend) const {
    for (auto b : *m_params.backend_transfer) {
        if (b == backend) return true;
    }
    return false;
}

Result<void> ParameterStore::set(const api::MigrationParameters& changes) {
    api::MigrationParameters next = MOLT_TRY(merge(m_params, changes));
    MOLT_TRY(check_parameters(next));
    m_params = std::move(next);
    return ok();
}

Result<void> ParameterStore::set_capabilities(
    const std::vector<api::MigrationCapabilityStatus>& caps) {
    Json tree = to_tree(m_params);
    for (const auto& c : caps) {
        std::string_view name = to_string(c.capability);
        JsonValue key(name.data(), static_cast<rapidjson::SizeType>(name.size()), tree.allocator());
        tree.value().RemoveMember(key);
        tree.value().AddMember(key, JsonValue(c.state), tree.allocator());
    }
    api::MigrationParameters next = MOLT_TRY(from_tree(tree));
    MOLT_TRY(check_parameters(next));
    m_params = std::move(next);
    return ok();
}

std::vector<api::MigrationCapabilityStatus> ParameterStore::capabilities() const {
    std::vector<api::MigrationCapabilityStatus> out;
    const EnumLookup& caps = enum_lookup(MigrationCapability{});
    for (int i = 0; i < caps.count; ++i) {
        auto c = static_cast<MigrationCapability>(i);
        api::MigrationCapabilityStatus s{};
        s.capability = c;
        s.state = cap(m_params, c);
        out.push_back(s);
    }
    return out;
}

}  // namespace molt::migration
