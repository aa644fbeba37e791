// libFuzzer: the /ingest `name` parameter and from/until parsing.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    try {
        auto n = trib::profiling::parse_app_name(in);
        if (n.app.empty()) __builtin_trap(); // a parsed name always has an app
    } catch (const trib::profiling::DecodeError &) {}
    try {
        (void)trib::profiling::pyroscope_time_to_ns(in);
    } catch (const trib::profiling::DecodeError &) {}
    return 0;
}
