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

#include <utility>

namespace molt {

template <class T>
class Box {
public:
    Box() = default;
    Box(const T& value) : m_ptr(new T(value)) {}
    Box(T&& value) : m_ptr(new T(std::move(value))) {}
    Box(const Box& other) : m_ptr(other.m_ptr ? new T(*other.m_ptr) : nullptr) {}
    Box(Box&& other) noexcept : m_ptr(std::exchange(other.m_ptr, nullptr)) {}
    Box& operator=(const Box& other) {
        if (this != &other) reset(other.m_ptr ? new T(*other.m_ptr) : nullptr);
        return *this;
    }
    Box& operator=(Box&& other) noexcept {
        if (this != &other) reset(std::exchange(other.m_ptr, nullptr));
        return *this;
    }
    ~Box() { delete m_ptr; }

    // Replaces the value with a default-constructed T and returns it.
    T& emplace() {
        reset(new T());
        return *m_ptr;
    }
    T& operator*() { return get(); }
    const T& operator*() const { return get(); }
    T* operator->() { return &get(); }
    const T* operator->() const { return &get(); }

    friend bool operator==(const Box& a, const Box& b) { return a.get() == b.get(); }

private:
    void reset(T* p) {
        delete m_ptr;
        m_ptr = p;
    }
    T& get() {
        if (!m_ptr) m_ptr = new T();
        return *m_ptr;
    }
    const T& get() const { return m_ptr ? *m_ptr : default_value(); }
    static const T& default_value() {
        static const T value{};
        return value;
    }

    // Owned; a raw pointer rather than std::unique_ptr because a schema of
    // QEMU's size instantiates Box for hundreds of types, and GCC takes
    // milliseconds per unique_ptr instantiation.
    T* m_ptr = nullptr;
};

}  // namespace molt
