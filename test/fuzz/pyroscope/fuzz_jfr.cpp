// libFuzzer: JFR decoding (raw bytes; seed with fixtures/jfr/acceptance.jfr).
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        auto p = trib::profiling::decode_jfr(std::string_view(reinterpret_cast<const char *>(data), size));
        (void)trib::profiling::jvm_metrics(p, 10.0);
    } catch (const trib::profiling::DecodeError &) {}
    return 0;
}
