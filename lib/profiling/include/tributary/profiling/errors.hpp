// Errors raised while decoding what a client sent. Handlers map them to HTTP 400/413/415.
#pragma once

#include <stdexcept>
#include <string>

namespace trib::profiling {

// The request is malformed: HTTP 400.
struct DecodeError : std::runtime_error {
    explicit DecodeError(const std::string &what) : std::runtime_error(what) {}
};

// The request (or what it inflates or decodes to) is larger than a limit: HTTP 413.
struct TooLargeError : DecodeError {
    explicit TooLargeError(const std::string &what) : DecodeError(what) {}
};

} // namespace trib::profiling
