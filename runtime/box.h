// Box<T>: a T on the heap, with the value semantics of a plain T member.
//
// Generated types hold every member and union branch of struct, union or
// alternate type through a Box (codegen/qapi/layout.py), as QEMU's C holds
// them through pointers: the size of a type then stays proportional to its
// own member count instead of growing with everything it nests (a schema of
// QEMU's size otherwise yields types of megabytes), recursive types stay
// finite, and a header needs only a declaration of what it boxes.
//
// A Box behaves like the T it holds: copies are deep, == compares values,
// and an empty Box (default-constructed or moved-from) reads as a
// default-constructed T without allocating; the first mutable access
// allocates.  Reach the value with * and ->.
#pragma once

#include <memory>
#include <utility>

namespace molt {

template <class T>
class Box {
public:
    Box() = default;
    Box(const T& value) : m_ptr(std::make_unique<T>(value)) {}
    Box(T&& value) : m_ptr(std::make_unique<T>(std::move(value))) {}
    Box(const Box& other) : m_ptr(other.m_ptr ? std::make_unique<T>(*other.m_ptr) : nullptr) {}
    Box(Box&&) noexcept = default;
    Box& operator=(const Box& other) {
        if (this != &other) m_ptr = other.m_ptr ? std::make_unique<T>(*other.m_ptr) : nullptr;
        return *this;
    }
    Box& operator=(Box&&) noexcept = default;
    ~Box() = default;

    // Replaces the value with a default-constructed T and returns it.
    T& emplace() {
        m_ptr = std::make_unique<T>();
        return *m_ptr;
    }
    T& operator*() { return get(); }
    const T& operator*() const { return get(); }
    T* operator->() { return &get(); }
    const T* operator->() const { return &get(); }

    friend bool operator==(const Box& a, const Box& b) { return a.get() == b.get(); }

private:
    T& get() {
        if (!m_ptr) m_ptr = std::make_unique<T>();
        return *m_ptr;
    }
    const T& get() const { return m_ptr ? *m_ptr : default_value(); }
    static const T& default_value() {
        static const T value{};
        return value;
    }

    std::unique_ptr<T> m_ptr;
};

}  // namespace molt
