#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>

#include <tributary/compression.hpp>

#include <cstring>

namespace trib::profiling {

namespace {

// The shared codecs' errors as the request handlers know them (400 / 413).
void stream_inflate(Codec codec, std::string_view in, size_t max_output, const trib::compression::Sink &sink) {
    try {
        trib::compression::stream_decompress(codec, in, max_output, sink);
    } catch (const trib::compression::TooLargeError &e) {
        throw TooLargeError(e.what());
    } catch (const trib::compression::CorruptError &e) {
        throw DecodeError(e.what());
    }
}

[[noreturn]] void too_large(const char *codec, size_t max_output) {
    throw TooLargeError(std::string(codec) + " output exceeds the limit of " + std::to_string(max_output) + " bytes");
}

// Two passes: the first only counts (a bomb stops at max_output having held a 64 KiB
// scratch buffer), the second fills a buffer of exactly that size, reserved first.
std::string decompress_into_budget(std::string_view data, size_t max_output, trib::MemoryReservation *memory) {
    Codec codec = detect_codec(data);
    if (codec == Codec::none) {
        if (data.size() > max_output) too_large("plain", max_output);
        if (memory) memory->ensure(data.size(), "request data");
        return std::string(data);
    }
    size_t size = 0;
    stream_inflate(codec, data, max_output, [&](const char *, size_t n) { size += n; });
    if (memory) memory->ensure(size, "inflated data");
    std::string out(size, '\0');
    size_t used = 0;
    stream_inflate(codec, data, size, [&](const char *p, size_t n) {
        std::memcpy(out.data() + used, p, n); // the size bound above keeps this in range
        used += n;
    });
    return out;
}

} // namespace

std::string decompress(std::string_view data, size_t max_output) {
    return decompress_into_budget(data, max_output, nullptr);
}

Inflated inflate(std::string_view data, const InflateLimit &limit) {
    Inflated out{std::string(), trib::MemoryReservation(limit.budget)};
    out.data = decompress_into_budget(data, limit.max_output, &out.held);
    return out;
}

} // namespace trib::profiling
