#include "series.hpp"

#include <push.pb.h>

#include <algorithm>
#include <cctype>

namespace trib::pyroscope_sink {

namespace {
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool contains(std::string_view s, std::string_view x) { return s.find(x) != std::string_view::npos; }
bool starts_with(std::string_view s, std::string_view x) { return s.substr(0, x.size()) == x; }
} // namespace

std::string sanitize_label_name(std::string_view name) {
    std::string out;
    out.reserve(name.size() + 1);
    for (char c : name) out += alnum(c) || c == '_' ? c : '_';
    if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
    return out;
}

Labels series_labels(const std::vector<std::pair<std::string, std::string>> &tags, const std::string &profile_name,
                     size_t *dropped) {
    std::string service;
    for (const char *k : {"service_name", "service"}) {
        for (auto &kv : tags)
            if (kv.first == k && !kv.second.empty()) {
                service = kv.second;
                break;
            }
        if (!service.empty()) break;
    }
    if (service.empty()) service = "unknown_service";
    std::map<std::string, std::string> fixed{
        {"__name__", profile_name}, {"service_name", service}, {"__delta__", "false"}};

    // env, version, host first: what users filter by; the rest by name.
    std::vector<std::pair<std::string, std::string>> rest;
    for (auto &[k, v] : tags) {
        if (v.empty() || k == "service" || k == "service_name" || starts_with(k, "__")) continue;
        // /ingest query parameters our pyroscope input keeps as tags: not series labels.
        if (k == "spyName" || k == "sampleRate" || k == "units" || k == "aggregationType" || k == "format") continue;
        std::string name = sanitize_label_name(k);
        if (name.empty() || fixed.count(name)) continue;
        rest.emplace_back(std::move(name), v.size() > kMaxLabelValueBytes ? v.substr(0, kMaxLabelValueBytes) : v);
    }
    auto rank = [](const std::string &n) { return n == "env" ? 0 : n == "version" ? 1 : n == "host" ? 2 : 3; };
    std::stable_sort(rest.begin(), rest.end(), [&](auto &a, auto &b) {
        return rank(a.first) != rank(b.first) ? rank(a.first) < rank(b.first) : a.first < b.first;
    });
    Labels out(fixed.begin(), fixed.end());
    size_t left_out = 0;
    for (auto &kv : rest) {
        // Two tags may sanitise to one name ("a.b" and "a_b"): the first keeps it.
        if (std::any_of(out.begin(), out.end(), [&](auto &x) { return x.first == kv.first; })) continue;
        if (out.size() >= kMaxLabels) {
            ++left_out;
            continue;
        }
        out.push_back(std::move(kv));
    }
    std::sort(out.begin(), out.end());
    if (dropped) *dropped = left_out;
    return out;
}

bool is_profile_part(std::string_view name) {
    if (name == "event.json" || name == "labels" || starts_with(name, "prev_")) return false;
    return !(name.size() >= 5 && name.substr(name.size() - 5) == ".json");
}

namespace {
std::string part_stem(std::string_view part_name) {
    std::string stem(part_name.substr(0, part_name.find('.')));
    for (auto &c : stem) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (starts_with(stem, "delta-")) stem = stem.substr(6);
    return stem;
}
} // namespace

std::optional<std::string> profile_type_from_part(std::string_view part_name) {
    std::string stem = part_stem(part_name);
    if (stem == "cpu") return "process_cpu";
    if (stem == "wall") return "wall";
    if (stem == "heap" || stem == "space" || stem == "allocs" || stem == "alloc" || stem == "inuse") return "memory";
    if (stem == "mutex" || stem == "lock") return "mutex";
    if (stem == "block") return "block";
    if (stem == "goroutine" || stem == "goroutines") return "goroutine";
    return std::nullopt;
}

std::string profile_type_name(std::string_view part_name, const std::vector<std::string> &sample_types) {
    if (auto t = profile_type_from_part(part_name)) return *t;
    std::string stem = part_stem(part_name);
    // Pyroscope's /ingest rule (pkg/og/convert/pprof metricName): wall wins, then the first
    // sample type that names a kind.
    for (auto &t : sample_types)
        if (t == "wall") return "wall";
    for (auto &t : sample_types) {
        if (contains(t, "cpu")) return "process_cpu";
        if (contains(t, "alloc_") || contains(t, "inuse_") || t == "space" || t == "objects") return "memory";
        if (contains(t, "mutex_")) return "mutex";
        if (contains(t, "block_")) return "block";
        if (contains(t, "goroutine")) return "goroutine";
    }
    std::string name = sanitize_label_name(stem);
    return name.empty() ? "unknown" : name;
}

std::string encode_push_request(const std::vector<SeriesProfile> &series) {
    push::v1::PushRequest req;
    for (auto &s : series) {
        auto *rs = req.add_series();
        for (auto &[k, v] : s.labels) {
            auto *l = rs->add_labels();
            l->set_name(k);
            l->set_value(v);
        }
        rs->add_samples()->set_raw_profile(s.gzip_pprof);
    }
    return req.SerializeAsString();
}

std::string ingest_name(const std::string &service, const Labels &labels) {
    std::string out;
    for (char c : service) out += alnum(c) || c == '_' || c == '.' || c == '-' || c == '/' ? c : '_';
    if (out.empty()) out = "unknown_service";
    out += '{';
    bool first = true;
    for (auto &[k, v] : labels) {
        if (k == "__name__" || k == "service_name" || k == "__delta__") continue;
        std::string val;
        for (char c : v)
            if (c != ',' && c != '}' && c != '{' && c != '=') val += c;
        if (val.empty()) continue;
        out += first ? "" : ",";
        first = false;
        out += k + "=" + val;
    }
    out += '}';
    return out;
}

} // namespace trib::pyroscope_sink
