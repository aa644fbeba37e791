// libFuzzer: folded / lines text → pprof.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    for (bool lines : {false, true}) {
        try {
            auto p = trib::profiling::folded_to_pprof(in, lines, size % 2 ? "samples" : "bytes", 100, 0, 10);
            if (p.sample_size() == 0) __builtin_trap(); // success means at least one sample
        } catch (const trib::profiling::DecodeError &) {
        }
    }
    return 0;
}
