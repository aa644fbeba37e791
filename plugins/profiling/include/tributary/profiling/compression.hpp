// Codec detection by magic bytes and bounded decompression (gzip, zstd, LZ4 frame).
#pragma once

#include <tributary/plugin.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace trib::profiling {

enum class Codec { none, gzip, zstd, lz4 };

// gzip 1f 8b, zstd 28 b5 2f fd, LZ4 frame 04 22 4d 18; anything else is `none`.
Codec detect_codec(std::string_view data);
const char *codec_name(Codec c);

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

// gzip (RFC 1952) of data, as Go's pprof writer produces.
std::string gzip_compress(std::string_view data, int level = 6);

} // namespace trib::profiling
