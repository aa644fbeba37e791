#include <tributary/relabel/relabel.hpp>

#include <zlib.h>
#include <zstd.h>

namespace trib::relabel {

bool is_gzip(std::string_view d) { return d.size() >= 2 && uint8_t(d[0]) == 0x1f && uint8_t(d[1]) == 0x8b; }
bool is_zstd(std::string_view d) {
    return d.size() >= 4 && uint8_t(d[0]) == 0x28 && uint8_t(d[1]) == 0xb5 && uint8_t(d[2]) == 0x2f &&
           uint8_t(d[3]) == 0xfd;
}

namespace {

std::string gunzip(std::string_view in, size_t max_output) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw PprofError("gzip: inflateInit failed");
    std::string out;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    zs.avail_in = uInt(in.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        size_t chunk = std::max<size_t>(64 << 10, out.size());
        if (out.size() + chunk > max_output) chunk = max_output - out.size() + 1;
        size_t old = out.size();
        out.resize(old + chunk);
        zs.next_out = reinterpret_cast<Bytef *>(out.data() + old);
        zs.avail_out = uInt(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        out.resize(old + chunk - zs.avail_out);
        if (rc == Z_STREAM_END && zs.avail_in > 0 &&
            is_gzip(std::string_view(reinterpret_cast<const char *>(zs.next_in), zs.avail_in))) {
            // A second gzip member follows (concatenated streams read as one).
            inflateReset(&zs);
            rc = Z_OK;
        }
        if (out.size() > max_output) {
            inflateEnd(&zs);
            throw PprofError("gzip: inflates past " + std::to_string(max_output) + " bytes");
        }
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            throw PprofError(std::string("gzip: ") + (zs.msg ? zs.msg : "truncated or corrupt data"));
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            throw PprofError("gzip: truncated data");
        }
    }
    inflateEnd(&zs);
    return out;
}

std::string unzstd(std::string_view in, size_t max_output) {
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds) throw PprofError("zstd: out of memory");
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    std::string out;
    size_t rc = 1;
    while (ib.pos < ib.size || rc != 0) {
        size_t old = out.size();
        size_t chunk = std::max<size_t>(64 << 10, old);
        if (old + chunk > max_output) chunk = max_output - old + 1;
        out.resize(old + chunk);
        ZSTD_outBuffer ob{out.data() + old, chunk, 0};
        rc = ZSTD_decompressStream(ds, &ob, &ib);
        out.resize(old + ob.pos);
        if (ZSTD_isError(rc)) {
            std::string why = ZSTD_getErrorName(rc);
            ZSTD_freeDStream(ds);
            throw PprofError("zstd: " + why);
        }
        if (out.size() > max_output) {
            ZSTD_freeDStream(ds);
            throw PprofError("zstd: inflates past " + std::to_string(max_output) + " bytes");
        }
        if (ib.pos == ib.size && rc != 0 && ob.pos < chunk) {
            ZSTD_freeDStream(ds);
            throw PprofError("zstd: truncated data");
        }
    }
    ZSTD_freeDStream(ds);
    return out;
}

} // namespace

std::string decompress(std::string_view data, size_t max_output) {
    if (is_gzip(data)) return gunzip(data, max_output);
    if (is_zstd(data)) return unzstd(data, max_output);
    if (data.size() > max_output) throw PprofError("pprof larger than " + std::to_string(max_output) + " bytes");
    return std::string(data);
}

std::string gzip(std::string_view plain, int level) {
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw PprofError("gzip: deflateInit failed");
    std::string out;
    out.resize(deflateBound(&zs, uLong(plain.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(plain.data()));
    zs.avail_in = uInt(plain.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = uInt(out.size());
    int rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw PprofError("gzip: deflate failed");
    out.resize(zs.total_out);
    return out;
}

} // namespace trib::relabel
