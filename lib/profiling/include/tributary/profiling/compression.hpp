// Bounded decompression of client data (gzip, zstd, LZ4 frame) with the errors request
// handlers map to 400/413 and the host's memory budget; the codecs are lib/compression's
// (gzip output too: trib::compression::gzip).
#pragma once

#include <tributary/compression.hpp>
#include <tributary/plugin.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace trib::profiling {

using trib::compression::Codec;
using trib::compression::codec_name;
using trib::compression::detect_codec;

// Decompresses `data` with the codec its magic bytes name; `none` returns a copy.
// Throws DecodeError on corrupt or truncated input, TooLargeError when the output would
// exceed max_output (a zip-bomb guard: the output grows in chunks, never past the limit).
// The default suits tools and tests; request paths pass their route's limit.
std::string decompress(std::string_view data, size_t max_output = 256u << 20);

// How far a client's data may inflate, and the host budget it is accounted in.
struct InflateLimit {
    size_t max_output = 32u << 20;      // the route's body limit by default
    const trib::Host *budget = nullptr; // null: not accounted (tools, unit tests)
};

// Inflated bytes holding their share of the host's in-flight budget until destroyed.
struct Inflated {
    std::string data;
    trib::MemoryReservation held;
};

// decompress() whose buffer is reserved in limit.budget as it grows; a refusal throws
// MemoryRefused (BACKPRESSURE → 429, INVALID_ARGUMENT → 413).
Inflated inflate(std::string_view data, const InflateLimit &limit);

} // namespace trib::profiling
