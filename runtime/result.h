// Result<T> and Error: how every fallible function in molt reports failure.
//
// Our code never throws (STYLE.md §4).  A fallible function returns
// Result<T>, a small [[nodiscard]] expected-like type whose API is a subset
// of C++23 std::expected, so it can be swapped later.  Error carries a
// closed ErrorClass (the QMP error classes), a message and an optional errno.
// Propagate with `if (!r) return r.error();` or MOLT_TRY(expr).
#pragma once

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace molt {

// The QMP error classes (QEMU's QapiErrorClass); GenericError is the usual.
enum class ErrorClass {
    GenericError,
    CommandNotFound,
    DeviceNotActive,
    DeviceNotFound,
    KVMMissingCap,
};

std::string_view to_string(ErrorClass cls);

class Error {
public:
    explicit Error(std::string message, ErrorClass cls = ErrorClass::GenericError,
                   int errno_value = 0)
        : m_message(std::move(message)), m_class(cls), m_errno(errno_value) {}

    // "<context>: <strerror(err)>", keeping err.
    static Error from_errno(int err, std::string_view context);

    const std::string& message() const { return m_message; }
    ErrorClass error_class() const { return m_class; }
    int errno_value() const { return m_errno; }

    // Adds one layer of context in front: "<context>: <message>".
    Error with_context(std::string_view context) &&;

private:
    std::string m_message;
    ErrorClass m_class;
    int m_errno;
};

template <class T>
class [[nodiscard]] Result {
public:
    using value_type = T;

    Result(const T& value) : m_v(std::in_place_index<0>, value) {}
    Result(T&& value) : m_v(std::in_place_index<0>, std::move(value)) {}
    template <class U, class = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                !std::is_same_v<std::decay_t<U>, T> &&
                                                !std::is_same_v<std::decay_t<U>, Error> &&
                                                !std::is_same_v<std::decay_t<U>, Result>>>
    Result(U&& value) : m_v(std::in_place_index<0>, T(std::forward<U>(value))) {}
    Result(const Error& error) : m_v(std::in_place_index<1>, error) {}
    Result(Error&& error) : m_v(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const { return m_v.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& { return std::get<1>(m_v); }
    Error&& error() && { return std::get<1>(std::move(m_v)); }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? value() : T(std::forward<U>(fallback));
    }

private:
    std::variant<T, Error> m_v;
};

// Result<void> is one pointer: null on success, so that the success path
// (the common one, in generated code everywhere) costs a test and no more.
template <>
class [[nodiscard]] Result<void> {
public:
    using value_type = void;

    Result() = default;
    Result(const Error& error) : m_error(std::make_unique<Error>(error)) {}
    Result(Error&& error) : m_error(std::make_unique<Error>(std::move(error))) {}
    Result(const Result& other)
        : m_error(other.m_error ? std::make_unique<Error>(*other.m_error) : nullptr) {}
    Result(Result&&) noexcept = default;
    Result& operator=(const Result& other) {
        if (this != &other) m_error = other.m_error ? std::make_unique<Error>(*other.m_error) : nullptr;
        return *this;
    }
    Result& operator=(Result&&) noexcept = default;

    bool has_value() const { return !m_error; }
    explicit operator bool() const { return has_value(); }
    void value() const {}
    const Error& error() const& { return *m_error; }
    Error&& error() && { return std::move(*m_error); }

private:
    std::unique_ptr<Error> m_error;
};

// Success of a Result<void>.
inline Result<void> ok() { return {}; }

}  // namespace molt

// Evaluates a Result; on failure returns its Error from the enclosing
// function, else yields the value (GNU statement expression, as SerenityOS's
// TRY; GCC and Clang both support it).
#define MOLT_TRY(expr)                                   \
    ({                                                   \
        auto&& molt_try_result_ = (expr);                \
        if (!molt_try_result_)                           \
            return std::move(molt_try_result_).error();  \
        std::move(molt_try_result_).value();             \
    })

// A broken invariant is a bug: report where and abort.
#define MOLT_ASSERT(cond)                                                   \
    do {                                                                    \
        if (!(cond)) ::molt::assert_failed(#cond, __FILE__, __LINE__);      \
    } while (0)

namespace molt {
[[noreturn]] void assert_failed(const char* cond, const char* file, int line);
}
