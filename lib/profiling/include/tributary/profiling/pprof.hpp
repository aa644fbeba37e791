// pprof (perftools.profiles.Profile) decoding helpers.
#pragma once

#include <tributary/profiling/compression.hpp>

#include <pprof.pb.h>

#include <cstdint>
#include <string_view>

namespace trib::profiling {

// Decompresses (gzip/zstd/LZ4/plain) and parses a pprof. Throws DecodeError,
// TooLargeError past max_output inflated bytes, MemoryRefused when the budget refuses.
// The default suits tools and tests; request paths pass their route's InflateLimit.
perftools::profiles::Profile parse_pprof(std::string_view maybe_compressed, size_t max_output = 256u << 20);
perftools::profiles::Profile parse_pprof(std::string_view maybe_compressed, const InflateLimit &limit);

// Index of the sample type named `type` (its string-table name), -1 if absent.
int find_sample_type(const perftools::profiles::Profile &p, std::string_view type);

// Sum of value[index] over every sample (0 for a bad index).
int64_t sum_sample_values(const perftools::profiles::Profile &p, int index);

// The unit string of sample type `index` ("" for a bad index).
std::string_view sample_type_unit(const perftools::profiles::Profile &p, int index);

} // namespace trib::profiling
