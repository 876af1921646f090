// Out-of-line parts of Result/Error (runtime/result.h).
#include "result.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace molt {

std::string_view to_string(ErrorClass cls) {
    switch (cls) {
    case ErrorClass::GenericError: return "GenericError";
    case ErrorClass::CommandNotFound: return "CommandNotFound";
    case ErrorClass::DeviceNotActive: return "DeviceNotActive";
    case ErrorClass::DeviceNotFound: return "DeviceNotFound";
    case ErrorClass::KVMMissingCap: return "KVMMissingCap";
    }
    return "GenericError";
}

Error Error::from_errno(int err, std::string_view context) {
    std::string msg(context);
    msg += ": ";
    msg += std::strerror(err);
    return Error(std::move(msg), ErrorClass::GenericError, err);
}

Error Error::with_context(std::string_view context) && {
    std::string msg(context);
    msg += ": ";
    msg += m_message;
    m_message = std::move(msg);
    return std::move(*this);
}

void assert_failed(const char* cond, const char* file, int line) {
    std::fprintf(stderr, "molt: assertion failed: %s (%s:%d)\n", cond, file, line);
    std::abort();
}

}  // namespace molt
