#include "filters.hpp"

namespace trib::pinpoint {

bool TraceFilter::sampled(const std::string &trace_id, double rate) {
    if (rate >= 1.0) return true;
    if (rate <= 0.0) return false;
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : trace_id) {
        h ^= c;
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (h % 10000) < uint64_t(rate * 10000.0);
}

bool TraceFilter::rare(const std::string &key, int64_t now_ms) {
    constexpr int64_t kHour = 3600 * 1000;
    std::lock_guard<std::mutex> g(mu_);
    auto [it, inserted] = last_seen_.emplace(key, now_ms);
    bool is_rare = inserted || now_ms - it->second >= kHour;
    it->second = now_ms;
    if (last_seen_.size() > 100000) { // bound: forget entries older than an hour
        for (auto i = last_seen_.begin(); i != last_seen_.end();)
            i = now_ms - i->second >= kHour ? last_seen_.erase(i) : std::next(i);
    }
    return is_rare;
}

FilterVerdict TraceFilter::apply(BuiltTrace &t, const std::string &trace_id, int64_t now_ms) {
    if (!cfg_.close_resource.empty()) {
        for (auto &p : t.points) {
            const std::string *svc = p.find_tag("service");
            const trib::Field *res = p.find_field("resource");
            if (!res) continue;
            for (auto &rule : cfg_.close_resource) {
                if (rule.service != "*" && (!svc || *svc != rule.service)) continue;
                for (auto &re : rule.regexes)
                    // Anywhere in the resource, as Go's regexp.MatchString in DataKit.
                    if (std::regex_search(res->s, re)) return FilterVerdict::closed_resource;
            }
        }
    }
    if (t.has_error) return FilterVerdict::keep;
    if (cfg_.keep_rare_resource && t.root_index >= 0) {
        const trib::Point &r = t.points[size_t(t.root_index)];
        const std::string *svc = r.find_tag("service"), *st = r.find_tag("source_type");
        const trib::Field *res = r.find_field("resource");
        std::string key = (svc ? *svc : "") + '\x1f' + (res ? res->s : "") + '\x1f' + (st ? *st : "");
        if (rare(key, now_ms)) return FilterVerdict::keep;
    }
    if (cfg_.sampling_rate) {
        if (!sampled(trace_id, *cfg_.sampling_rate)) return FilterVerdict::sampled_out;
        for (auto &p : t.points) p.field(trib::Field::Float("dk_sampling_rate", *cfg_.sampling_rate));
    }
    return FilterVerdict::keep;
}

} // namespace trib::pinpoint
