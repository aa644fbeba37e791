// Errors raised while decoding what a client sent. Handlers map them to HTTP 400/415.
#pragma once

#include <stdexcept>
#include <string>

namespace trib::profiling {

struct DecodeError : std::runtime_error {
    explicit DecodeError(const std::string &what) : std::runtime_error(what) {}
};

} // namespace trib::profiling
