#include <tributary/relabel/relabel.hpp>

#include <tributary/compression.hpp>

namespace trib::relabel {

bool is_gzip(std::string_view d) { return compression::detect_codec(d) == compression::Codec::gzip; }
bool is_zstd(std::string_view d) { return compression::detect_codec(d) == compression::Codec::zstd; }

// gzip and zstd through the shared codecs; anything else (LZ4 included) is read as plain.
std::string decompress(std::string_view data, size_t max_output) {
    if (is_gzip(data) || is_zstd(data)) {
        try {
            return compression::decompress(data, max_output);
        } catch (const compression::CorruptError &e) {
            throw PprofError(e.what());
        }
    }
    if (data.size() > max_output) throw PprofError("pprof larger than " + std::to_string(max_output) + " bytes");
    return std::string(data);
}

} // namespace trib::relabel
