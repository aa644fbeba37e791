#include <tributary/compression.hpp>

#include <libdeflate.h>
#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>

namespace trib::compression {

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

void stream_gunzip(std::string_view in, size_t max_output, const Sink &sink) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw CorruptError("gzip: cannot initialise zlib");
    std::unique_ptr<z_stream, int (*)(z_stream *)> guard(&zs, inflateEnd);
    char scratch[kChunk];
    size_t total = 0;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef *>(scratch);
        zs.avail_out = sizeof scratch;
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof scratch - zs.avail_out;
        total += got;
        if (total > max_output) too_large("gzip", max_output);
        if (got) sink(scratch, got);
        if (rc == Z_STREAM_END) {
            // Concatenated gzip members are one stream (RFC 1952 §2.2).
            if (zs.avail_in == 0) return;
            if (inflateReset(&zs) != Z_OK) throw CorruptError("gzip: cannot reset stream");
            continue;
        }
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) throw CorruptError("gzip: truncated input");
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            throw CorruptError(std::string("gzip: corrupt input (") + (zs.msg ? zs.msg : "inflate error") + ")");
    }
}

void stream_unzstd(std::string_view in, size_t max_output, const Sink &sink) {
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream *)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
    if (!ds) throw CorruptError("zstd: cannot create stream");
    ZSTD_initDStream(ds.get());
    char scratch[kChunk];
    size_t total = 0, last = 1;
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    // Until the input is consumed, then until the decoder has flushed what it holds.
    while (ib.pos < ib.size || last != 0) {
        ZSTD_outBuffer ob{scratch, sizeof scratch, 0};
        size_t before = ib.pos;
        last = ZSTD_decompressStream(ds.get(), &ob, &ib);
        if (ZSTD_isError(last))
            throw CorruptError(std::string("zstd: corrupt input (") + ZSTD_getErrorName(last) + ")");
        total += ob.pos;
        if (total > max_output) too_large("zstd", max_output);
        if (ob.pos) sink(scratch, ob.pos);
        if (ob.pos == 0 && ib.pos == before && last != 0) throw CorruptError("zstd: truncated input");
    }
}

void stream_unlz4(std::string_view in, size_t max_output, const Sink &sink) {
    LZ4F_dctx *raw = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION)))
        throw CorruptError("lz4: cannot create context");
    std::unique_ptr<LZ4F_dctx, size_t (*)(LZ4F_dctx *)> dctx(raw, LZ4F_freeDecompressionContext);
    char scratch[kChunk];
    size_t total = 0, pos = 0, hint = 1;
    while (pos < in.size()) {
        size_t dst = sizeof scratch, src = in.size() - pos;
        hint = LZ4F_decompress(dctx.get(), scratch, &dst, in.data() + pos, &src, nullptr);
        if (LZ4F_isError(hint)) throw CorruptError(std::string("lz4: corrupt input (") + LZ4F_getErrorName(hint) + ")");
        total += dst;
        pos += src;
        if (total > max_output) too_large("lz4", max_output);
        if (dst) sink(scratch, dst);
        if (hint == 0 && pos < in.size()) {
            // Another frame follows; only LZ4 frames may follow.
            if (detect_codec(in.substr(pos)) != Codec::lz4) throw CorruptError("lz4: trailing bytes after frame");
        }
        if (src == 0 && dst == 0) throw CorruptError("lz4: decoder made no progress");
    }
    if (hint != 0) throw CorruptError("lz4: truncated input");
}

struct DecompressorFree {
    void operator()(libdeflate_decompressor *d) const { libdeflate_free_decompressor(d); }
};

} // namespace

size_t gzip_declared_size(std::string_view in) {
    if (in.size() < 18) return 0; // a 10-byte header and an 8-byte trailer at least
    auto b = [&](size_t i) { return size_t(static_cast<unsigned char>(in[in.size() - 4 + i])); };
    return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

bool gunzip_exact(std::string_view in, char *out, size_t size) {
    // One decompressor per thread (~32 KiB), made on first use.
    thread_local std::unique_ptr<libdeflate_decompressor, DecompressorFree> d(libdeflate_alloc_decompressor());
    if (!d) return false;
    size_t used_in = 0, produced = 0;
    libdeflate_result r = libdeflate_gzip_decompress_ex(d.get(), in.data(), in.size(), out, size, &used_in, &produced);
    return r == LIBDEFLATE_SUCCESS && used_in == in.size() && produced == size;
}

void stream_decompress(Codec codec, std::string_view in, size_t max_output, const Sink &sink) {
    switch (codec) {
    case Codec::gzip: return stream_gunzip(in, max_output, sink);
    case Codec::zstd: return stream_unzstd(in, max_output, sink);
    case Codec::lz4: return stream_unlz4(in, max_output, sink);
    case Codec::none: break;
    }
}

std::string decompress(std::string_view data, size_t max_output) {
    Codec codec = detect_codec(data);
    if (codec == Codec::none) {
        if (data.size() > max_output) too_large("plain", max_output);
        return std::string(data);
    }
    std::string out;
    if (codec == Codec::gzip) {
        size_t declared = gzip_declared_size(data);
        if (declared <= max_output && declared <= data.size() * 1032 + 1024) { // DEFLATE's ratio is below 1032:1
            out.resize(declared);
            if (gunzip_exact(data, out.data(), declared)) return out;
            out.clear();
        }
    }
    stream_decompress(codec, data, max_output, [&](const char *p, size_t n) { out.append(p, n); });
    return out;
}

std::string gzip(std::string_view data, int level) {
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

} // namespace trib::compression
