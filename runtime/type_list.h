// TypeList and VariantOf: a std::variant spelled one alternative at a time.
//
// Generated alternates whose branches carry `if` conditions cannot write
// std::variant<A, B, C> directly (a removed branch would leave a stray
// comma), so they append each branch to a TypeList under its own #if and
// take VariantOf<that list>.
#pragma once

#include <variant>

namespace molt {

template <class... Ts>
struct TypeList {
    template <class T>
    using append = TypeList<Ts..., T>;
};

template <class List>
struct VariantOfImpl;

template <class... Ts>
struct VariantOfImpl<TypeList<Ts...>> {
    using type = std::variant<Ts...>;
};

template <class List>
using VariantOf = typename VariantOfImpl<List>::type;

}  // namespace molt
