#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>

#include <tributary/compression.hpp>

#include <algorithm>
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

// Output that stays within a few times the input (every real profile) is inflated once,
// into a buffer reserved as it grows. Beyond that (a bomb, or a part of zeros) it is
// counted first and then filled, so a bomb holds a 64 KiB scratch buffer, not the limit:
// a larger one is inflated twice.
size_t one_pass_cap(size_t input, size_t max_output) {
    return std::min({max_output, std::max<size_t>(1u << 20, input * 16), size_t(8) << 20});
}

std::string decompress_into_budget(std::string_view data, size_t max_output, trib::MemoryReservation *memory) {
    Codec codec = detect_codec(data);
    if (codec == Codec::none) {
        if (data.size() > max_output) too_large("plain", max_output);
        if (memory) memory->ensure(data.size(), "request data");
        return std::string(data);
    }
    const size_t cap = one_pass_cap(data.size(), max_output);
    if (codec == Codec::gzip) {
        // A gzip stream that says how large it is, within the one-pass cap, is inflated in one
        // call; if it lied or is damaged, the streaming path below decides (and words the error).
        size_t declared = trib::compression::gzip_declared_size(data);
        if (declared <= cap) {
            if (memory) memory->ensure(declared, "inflated data");
            std::string whole(declared, '\0');
            if (trib::compression::gunzip_exact(data, whole.data(), declared)) return whole;
        }
    }
    std::string out(std::min(cap, std::max<size_t>(64u << 10, data.size() * 4)), '\0');
    if (memory) memory->ensure(out.size(), "inflated data");
    size_t used = 0;
    try {
        stream_inflate(codec, data, cap, [&](const char *p, size_t n) {
            if (used + n > out.size()) {
                size_t grown = std::min(cap, std::max(out.size() * 2, used + n));
                if (memory) memory->ensure(grown, "inflated data");
                out.resize(grown);
            }
            std::memcpy(out.data() + used, p, n); // cap bounds used + n (stream_decompress's limit)
            used += n;
        });
        out.resize(used);
        return out;
    } catch (const TooLargeError &) {
        if (cap >= max_output) throw;
    }
    std::string().swap(out);
    size_t size = 0;
    stream_inflate(codec, data, max_output, [&](const char *, size_t n) { size += n; });
    if (memory) memory->ensure(size, "inflated data");
    out.assign(size, '\0');
    used = 0;
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
