// Codec detection by magic bytes and bounded decompression (gzip, zstd, LZ4 frame).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace trib::profiling {

enum class Codec { none, gzip, zstd, lz4 };

// gzip 1f 8b, zstd 28 b5 2f fd, LZ4 frame 04 22 4d 18; anything else is `none`.
Codec detect_codec(std::string_view data);
const char *codec_name(Codec c);

// Decompresses `data` with the codec its magic bytes name; `none` returns a copy.
// Throws DecodeError on corrupt or truncated input, or when the output would exceed
// max_output (a zip-bomb guard).
std::string decompress(std::string_view data, size_t max_output = 256u << 20);

// gzip (RFC 1952) of data, as Go's pprof writer produces.
std::string gzip_compress(std::string_view data, int level = 6);

} // namespace trib::profiling
