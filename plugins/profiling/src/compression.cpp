#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace trib::profiling {

Codec detect_codec(std::string_view d) {
    auto at = [&](size_t i) { return static_cast<unsigned char>(d[i]); };
    if (d.size() >= 2 && at(0) == 0x1f && at(1) == 0x8b) return Codec::gzip;
    if (d.size() >= 4 && at(0) == 0x28 && at(1) == 0xb5 && at(2) == 0x2f && at(3) == 0xfd) return Codec::zstd;
    if (d.size() >= 4 && at(0) == 0x04 && at(1) == 0x22 && at(2) == 0x4d && at(3) == 0x18) return Codec::lz4;
    return Codec::none;
}

const char *codec_name(Codec c) {
    switch (c) {
    case Codec::gzip: return "gzip";
    case Codec::zstd: return "zstd";
    case Codec::lz4: return "lz4";
    case Codec::none: break;
    }
    return "none";
}

namespace {

constexpr size_t kChunk = 64 * 1024;

[[noreturn]] void too_large(const char *codec, size_t max_output) {
    throw TooLargeError(std::string(codec) + " output exceeds the limit of " + std::to_string(max_output) + " bytes");
}

// Sizes the output buffer, first taking its bytes from the host budget (when accounted).
void resize_out(std::string &out, size_t size, trib::MemoryReservation *memory) {
    if (memory) memory->ensure(size, "inflated data");
    out.resize(size);
}

// Grows `out` by one chunk (bounded by max_output + 1 so overflow is detectable).
size_t grow(std::string &out, size_t used, size_t max_output, const char *codec, trib::MemoryReservation *memory) {
    if (used > max_output) too_large(codec, max_output);
    size_t want = std::min(out.size() + std::max(kChunk, out.size()), max_output + 1);
    if (want <= used) too_large(codec, max_output);
    resize_out(out, want, memory);
    return want - used;
}

std::string gunzip(std::string_view in, size_t max_output, trib::MemoryReservation *memory) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw DecodeError("gzip: cannot initialise zlib");
    std::unique_ptr<z_stream, int (*)(z_stream *)> guard(&zs, inflateEnd);
    std::string out;
    resize_out(out, std::min(std::max(in.size() * 4, kChunk), max_output + 1), memory);
    size_t used = 0;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    for (;;) {
        if (used == out.size()) grow(out, used, max_output, "gzip", memory);
        zs.next_out = reinterpret_cast<Bytef *>(out.data() + used);
        zs.avail_out = static_cast<uInt>(out.size() - used);
        int rc = inflate(&zs, Z_NO_FLUSH);
        used = out.size() - zs.avail_out;
        if (used > max_output) too_large("gzip", max_output);
        if (rc == Z_STREAM_END) {
            // Concatenated gzip members are one stream (RFC 1952 §2.2).
            if (zs.avail_in == 0) break;
            if (inflateReset(&zs) != Z_OK) throw DecodeError("gzip: cannot reset stream");
            continue;
        }
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) throw DecodeError("gzip: truncated input");
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            throw DecodeError(std::string("gzip: corrupt input (") + (zs.msg ? zs.msg : "inflate error") + ")");
    }
    out.resize(used);
    return out;
}

std::string unzstd(std::string_view in, size_t max_output, trib::MemoryReservation *memory) {
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream *)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
    if (!ds) throw DecodeError("zstd: cannot create stream");
    ZSTD_initDStream(ds.get());
    std::string out;
    unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
    size_t first = kChunk;
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR)
        first = static_cast<size_t>(std::min<unsigned long long>(declared + 1, max_output + 1));
    resize_out(out, std::max<size_t>(first, 1), memory);
    size_t used = 0;
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    size_t last = 1;
    while (ib.pos < ib.size) {
        if (used == out.size()) grow(out, used, max_output, "zstd", memory);
        ZSTD_outBuffer ob{out.data() + used, out.size() - used, 0};
        last = ZSTD_decompressStream(ds.get(), &ob, &ib);
        if (ZSTD_isError(last)) throw DecodeError(std::string("zstd: corrupt input (") + ZSTD_getErrorName(last) + ")");
        used += ob.pos;
        if (used > max_output) too_large("zstd", max_output);
    }
    // Flush what the decoder still holds once the input is consumed.
    while (last != 0) {
        if (used == out.size()) grow(out, used, max_output, "zstd", memory);
        ZSTD_outBuffer ob{out.data() + used, out.size() - used, 0};
        last = ZSTD_decompressStream(ds.get(), &ob, &ib);
        if (ZSTD_isError(last)) throw DecodeError(std::string("zstd: corrupt input (") + ZSTD_getErrorName(last) + ")");
        used += ob.pos;
        if (used > max_output) too_large("zstd", max_output);
        if (ob.pos == 0 && last != 0) throw DecodeError("zstd: truncated input");
    }
    out.resize(used);
    return out;
}

std::string unlz4(std::string_view in, size_t max_output, trib::MemoryReservation *memory) {
    LZ4F_dctx *raw = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) throw DecodeError("lz4: cannot create context");
    std::unique_ptr<LZ4F_dctx, size_t (*)(LZ4F_dctx *)> dctx(raw, LZ4F_freeDecompressionContext);
    std::string out;
    resize_out(out, std::min(std::max(in.size() * 4, kChunk), max_output + 1), memory);
    size_t used = 0, pos = 0, hint = 1;
    while (pos < in.size()) {
        if (used == out.size()) grow(out, used, max_output, "lz4", memory);
        size_t dst = out.size() - used, src = in.size() - pos;
        hint = LZ4F_decompress(dctx.get(), out.data() + used, &dst, in.data() + pos, &src, nullptr);
        if (LZ4F_isError(hint)) throw DecodeError(std::string("lz4: corrupt input (") + LZ4F_getErrorName(hint) + ")");
        used += dst;
        pos += src;
        if (used > max_output) too_large("lz4", max_output);
        if (hint == 0 && pos < in.size()) {
            // Another frame follows; only LZ4 frames may follow.
            if (detect_codec(in.substr(pos)) != Codec::lz4) throw DecodeError("lz4: trailing bytes after frame");
        }
        if (src == 0 && dst == 0) throw DecodeError("lz4: decoder made no progress");
    }
    if (hint != 0) throw DecodeError("lz4: truncated input");
    out.resize(used);
    return out;
}

} // namespace

std::string gzip_compress(std::string_view data, int level) {
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("gzip: cannot initialise zlib");
    std::unique_ptr<z_stream, int (*)(z_stream *)> guard(&zs, deflateEnd);
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
    out.resize(zs.total_out);
    return out;
}

namespace {
std::string decompress_into_budget(std::string_view data, size_t max_output, trib::MemoryReservation *memory) {
    switch (detect_codec(data)) {
    case Codec::gzip: return gunzip(data, max_output, memory);
    case Codec::zstd: return unzstd(data, max_output, memory);
    case Codec::lz4: return unlz4(data, max_output, memory);
    case Codec::none: break;
    }
    if (data.size() > max_output) too_large("plain", max_output);
    if (memory) memory->ensure(data.size(), "request data");
    return std::string(data);
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
