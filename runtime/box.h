// Box<T>: a heap-allocated value with value semantics.
//
// Generated types hold a member through a Box when the schema makes the
// type recursive (QEMU allows that; its C uses pointers), so that the C++
// type stays finite (codegen/qapi/layout.py decides where).  A Box copies
// deeply and compares by value.  Unlike std::optional it may refer to an
// incomplete type.  A default-constructed or moved-from Box is empty; the
// generated input visitor always fills the boxes it creates.
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

    bool has_value() const { return m_ptr != nullptr; }
    // Makes the Box hold a default-constructed T and returns it.
    T& emplace() {
        m_ptr = std::make_unique<T>();
        return *m_ptr;
    }
    T& operator*() { return *m_ptr; }
    const T& operator*() const { return *m_ptr; }
    T* operator->() { return m_ptr.get(); }
    const T* operator->() const { return m_ptr.get(); }

    friend bool operator==(const Box& a, const Box& b) {
        if (!a.m_ptr || !b.m_ptr) return a.m_ptr == b.m_ptr;
        return *a.m_ptr == *b.m_ptr;
    }

private:
    std::unique_ptr<T> m_ptr;
};

}  // namespace molt
