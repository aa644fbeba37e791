// libFuzzer: folded / lines text → pprof, with a small output limit so the size bound is
// exercised too. Whatever is built must parse back as a pprof holding every sample.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    for (bool lines : {false, true}) {
        try {
            std::string bytes = trib::profiling::folded_to_pprof(in, lines, size % 2 ? "samples" : "bytes", 100,
                                                                 1795316000000000000, 1795316010000000000, 64 * 1024);
            if (bytes.size() > 64 * 1024) __builtin_trap(); // the limit holds
            perftools::profiles::Profile p;
            if (!p.ParseFromString(bytes) || p.sample_size() == 0) __builtin_trap(); // success means a valid pprof
            for (auto &s : p.sample()) {
                if (s.location_id_size() == 0 || s.value_size() != p.sample_type_size()) __builtin_trap();
                for (auto id : s.location_id())
                    if (id == 0 || id > uint64_t(p.location_size())) __builtin_trap();
            }
        } catch (const trib::profiling::DecodeError &) { // TooLargeError included
        }
    }
    return 0;
}
