// EnumLookup: the string table of a generated enum.
//
// Each generated `enum class E` has `const EnumLookup& enum_lookup(E)`:
// the wire names of its values in declaration order, and per value the
// special features (deprecated, unstable) that -compat policies act on.
#pragma once

#include <string_view>

namespace molt {

// Special features of schema entities, as bits.
inline constexpr unsigned kFeatureDeprecated = 1u << 0;
inline constexpr unsigned kFeatureUnstable = 1u << 1;

struct EnumLookup {
    std::string_view type_name;     // the schema name of the enum
    const std::string_view* names;  // `count` wire names
    const unsigned* features;       // `count` feature sets, or nullptr if none
    int count;

    // The wire name of value v ("" if out of range).
    std::string_view name(int v) const {
        return v >= 0 && v < count ? names[v] : std::string_view();
    }
    // The value named s, or -1.
    int find(std::string_view s) const {
        for (int i = 0; i < count; i++) {
            if (names[i] == s) return i;
        }
        return -1;
    }
    unsigned features_of(int v) const {
        return features && v >= 0 && v < count ? features[v] : 0u;
    }
};

}  // namespace molt
