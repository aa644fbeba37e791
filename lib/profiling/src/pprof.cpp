#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pprof.hpp>

#include <limits>

namespace trib::profiling {

perftools::profiles::Profile parse_pprof(std::string_view maybe_compressed, size_t max_output) {
    return parse_pprof(maybe_compressed, InflateLimit{max_output, nullptr});
}

perftools::profiles::Profile parse_pprof(std::string_view maybe_compressed, const InflateLimit &limit) {
    Inflated inflated = inflate(maybe_compressed, limit);
    const std::string &raw = inflated.data;
    if (raw.size() > static_cast<size_t>(std::numeric_limits<int>::max())) throw DecodeError("pprof: too large");
    perftools::profiles::Profile p;
    if (!p.ParseFromArray(raw.data(), static_cast<int>(raw.size())))
        throw DecodeError("pprof: not a valid profile protobuf");
    return p;
}

namespace {
std::string_view str(const perftools::profiles::Profile &p, int64_t idx) {
    if (idx < 0 || idx >= p.string_table_size()) return {};
    return p.string_table(static_cast<int>(idx));
}
} // namespace

int find_sample_type(const perftools::profiles::Profile &p, std::string_view type) {
    for (int i = 0; i < p.sample_type_size(); ++i)
        if (str(p, p.sample_type(i).type()) == type) return i;
    return -1;
}

std::string_view sample_type_unit(const perftools::profiles::Profile &p, int index) {
    if (index < 0 || index >= p.sample_type_size()) return {};
    return str(p, p.sample_type(index).unit());
}

int64_t sum_sample_values(const perftools::profiles::Profile &p, int index) {
    if (index < 0) return 0;
    int64_t total = 0;
    for (const auto &s : p.sample())
        if (index < s.value_size()) total += s.value(index);
    return total;
}

} // namespace trib::profiling
