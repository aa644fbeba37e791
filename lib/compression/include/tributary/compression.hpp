// Compression codecs, once for the whole tree: gzip (RFC 1952) out; gzip, zstd and LZ4
// frame in, by magic bytes, bounded so a small body cannot inflate without limit.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trib::compression {

// Corrupt or truncated input.
struct CorruptError : std::runtime_error {
    explicit CorruptError(const std::string &what) : std::runtime_error(what) {}
};

// The output would pass the caller's limit.
struct TooLargeError : CorruptError {
    explicit TooLargeError(const std::string &what) : CorruptError(what) {}
};

enum class Codec { none, gzip, zstd, lz4 };

// gzip 1f 8b, zstd 28 b5 2f fd, LZ4 frame 04 22 4d 18; anything else is `none`.
Codec detect_codec(std::string_view data);
const char *codec_name(Codec c);

// Inflates `in` (encoded with `codec`, not `none`) through a fixed 64 KiB scratch buffer,
// handing every piece to `sink`: past max_output it throws TooLargeError having held no more
// than that buffer. Concatenated gzip members, and LZ4 frames, read as one stream.
using Sink = std::function<void(const char *, size_t)>;
void stream_decompress(Codec codec, std::string_view in, size_t max_output, const Sink &sink);

// The size a gzip stream declares in its trailer (ISIZE: the last member's size mod 2^32).
// A hint for sizing a buffer, nothing more: 0 when `in` is too short to hold one.
size_t gzip_declared_size(std::string_view in);

// One call of libdeflate over a single-member gzip stream that inflates to exactly `size`
// bytes, into [out, out + size): CRC and ISIZE checked. False for anything else (damaged,
// several members, another size), for the streaming path to decide; 2-3x zlib's speed, which
// is most of a Pyroscope ingest's CPU.
bool gunzip_exact(std::string_view in, char *out, size_t size);

// The whole output of stream_decompress as one string (`none`: a copy, also bounded).
std::string decompress(std::string_view data, size_t max_output);

// gzip of data at zlib `level` (6 is zlib's default and Go's pprof writer's).
std::string gzip(std::string_view data, int level = 6);

} // namespace trib::compression
