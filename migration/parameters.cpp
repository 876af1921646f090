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

// Which capabilities are on, indexed by MigrationCapability (one look at
// the members through the JSON visitor, so new capabilities need nothing here).
std::vector<bool> enabled_capabilities(const api::MigrationParameters& p) {
    Json tree = to_tree(p);
    const EnumLookup& caps = enum_lookup(MigrationCapability{});
    std::vector<bool> on(static_cast<size_t>(caps.count));
    for (int i = 0; i < caps.count; ++i) {
        std::string_view name = caps.name(i);
        auto it = tree.value().FindMember(rapidjson::StringRef(name.data(), name.size()));
        on[static_cast<size_t>(i)] =
            it != tree.value().MemberEnd() && it->value.IsBool() && it->value.GetBool();
    }
    return on;
}

// QEMU's migrate_caps_check(), in its order: a rule fires when `cap` is on
// and `other` is on (Conflict), off (Requires), or regardless (Refused:
// what molt cannot do at all).
struct CapabilityRule {
    enum Kind { Conflict, Requires, Refused } kind;
    MigrationCapability cap;
    MigrationCapability other;
    const char* message;
};

using C = MigrationCapability;
constexpr CapabilityRule kCapabilityRules[] = {
    {CapabilityRule::Refused, C::XColo, C::XColo,
     "molt was built without COLO support; x-colo cannot be enabled"},
    {CapabilityRule::Conflict, C::PostcopyRam, C::XIgnoreShared,
     "Postcopy is not compatible with ignore-shared"},
    {CapabilityRule::Conflict, C::PostcopyRam, C::Multifd,
     "Postcopy is not yet compatible with multifd"},
    {CapabilityRule::Requires, C::ZeroCopySend, C::Multifd,
     "Zero copy only available for non-compressed non-TLS multifd migration"},
    {CapabilityRule::Conflict, C::ZeroCopySend, C::Xbzrle,
     "Zero copy only available for non-compressed non-TLS multifd migration"},
    {CapabilityRule::Requires, C::PostcopyPreempt, C::PostcopyRam,
     "Postcopy preempt requires postcopy-ram"},
    {CapabilityRule::Requires, C::SwitchoverAck, C::ReturnPath,
     "Capability 'switchover-ack' requires capability 'return-path'"},
    {CapabilityRule::Conflict, C::DirtyLimit, C::AutoConverge,
     "dirty-limit conflicts with auto-converge either of then available currently"},
    {CapabilityRule::Refused, C::DirtyLimit, C::DirtyLimit,
     "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"},
    {CapabilityRule::Conflict, C::Multifd, C::Xbzrle, "Multifd is not compatible with xbzrle"},
    {CapabilityRule::Conflict, C::MappedRam, C::Xbzrle,
     "Mapped-ram migration is incompatible with xbzrle"},
    {CapabilityRule::Conflict, C::MappedRam, C::PostcopyRam,
     "Mapped-ram migration is incompatible with postcopy"},
};

// What a background snapshot cannot be combined with.
constexpr MigrationCapability kNotWithBackgroundSnapshot[] = {
    C::PostcopyRam, C::DirtyBitmaps, C::PostcopyBlocktime, C::LateBlockActivate, C::ReturnPath,
    C::Multifd, C::PauseBeforeSwitchover, C::AutoConverge, C::ReleaseRam, C::RdmaPinAll,
    C::Xbzrle, C::XColo, C::ValidateUuid, C::ZeroCopySend,
};

Result<void> check_capabilities(const api::MigrationParameters& p) {
    std::vector<bool> on_bits = enabled_capabilities(p);
    auto on = [&](MigrationCapability c) { return on_bits[static_cast<size_t>(c)]; };
    if (on(C::BackgroundSnapshot)) {
        for (MigrationCapability c : kNotWithBackgroundSnapshot) {
            if (on(c)) {
                return Error("Background-snapshot is not compatible with " +
                             std::string(to_string(c)));
            }
        }
    }
    for (const CapabilityRule& r : kCapabilityRules) {
        if (!on(r.cap)) continue;
        bool fires = r.kind == CapabilityRule::Refused ||
                     (r.kind == CapabilityRule::Conflict) == on(r.other);
        if (fires) return Error(r.message);
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
    std::vector<bool> on = enabled_capabilities(m_params);
    for (size_t i = 0; i < on.size(); ++i) {
        api::MigrationCapabilityStatus s{};
        s.capability = static_cast<MigrationCapability>(i);
        s.state = on[i];
        out.push_back(s);
    }
    return out;
}

}  // namespace molt::migration
