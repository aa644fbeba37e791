#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pprof_reader.hpp>

#if __has_include(<tributary/profiling/jfr.hpp>)
#include <tributary/profiling/jfr.hpp>
#define TRIB_PROFILING_HAVE_JFR 1
#endif

#include <nlohmann/json.hpp>

#include <map>

namespace trib::profiling {

namespace {

using Metrics = std::vector<std::pair<std::string, double>>;

void set_if_absent(Metrics &m, const std::string &name, double v) {
    for (auto &kv : m)
        if (kv.first == name) return;
    m.emplace_back(name, v);
}

bool contains(std::string_view s, std::string_view sub) { return s.find(sub) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view suf) {
    return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

// Converts a sample value to ns or bytes from its declared unit.
double to_base_unit(double v, std::string_view unit) {
    if (unit == "microseconds") return v * 1e3;
    if (unit == "milliseconds") return v * 1e6;
    if (unit == "seconds") return v * 1e9;
    if (unit == "kilobytes") return v * 1024;
    if (unit == "megabytes") return v * 1024 * 1024;
    return v;
}

// Σ of a sample type in base units; nullopt when the profile has no such type.
std::optional<double> sum_of(const PprofSummary &p, std::string_view type) {
    int idx = p.find(type);
    if (idx < 0) return std::nullopt;
    return to_base_unit(static_cast<double>(p.sample_types[size_t(idx)].sum), p.sample_types[size_t(idx)].unit);
}

// The file's pprof read once: the receiver's read when it made one, else one pass now.
struct Summaries {
    const ProfileUpload &u;
    PprofDecoder decoder;
    std::shared_ptr<const PprofSummary> operator()(const ProfileFile &f) const {
        if (decoder == PprofDecoder::libprotobuf)
            return std::make_shared<const PprofSummary>(summarize_profile(parse_pprof(*f.data, u.inflate)));
        if (f.pprof) return f.pprof;
        // The upload was accepted already: the unread parts of the profile are not checked.
        return std::make_shared<const PprofSummary>(
            summarize_pprof(*f.data, u.inflate, PprofReadOptions{.check_unread = false}));
    }
};

void golang(const ProfileUpload &u, const Summaries &read, double dur_s, Metrics &m) {
    for (auto &f : u.files) {
        if (!f.data) continue;
        if (f.name == "metrics.json" || f.name == "metrics") {
            Inflated raw = inflate(*f.data, u.inflate);
            check_json_depth(raw.data, "metrics.json");
            auto j = nlohmann::json::parse(raw.data, nullptr, false);
            if (!j.is_array()) throw DecodeError("metrics.json: not a JSON array");
            for (auto &e : j) {
                if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) continue;
                std::string name = e[0].get<std::string>();
                if (name.rfind("go_", 0) == 0) name = "prof_go_" + name.substr(3);
                else name = "prof_go_" + name;
                set_if_absent(m, name, e[1].get<double>());
            }
        }
    }
    // Derived from metrics.json values.
    std::map<std::string, double> have(m.begin(), m.end());
    if (have.count("prof_go_alloc_bytes_per_sec") && dur_s > 0)
        set_if_absent(m, "prof_go_alloc_bytes_total", have["prof_go_alloc_bytes_per_sec"] * dur_s);
    if (have.count("prof_go_gc_pause_time"))
        set_if_absent(m, "prof_go_cpu_cores_gc_overhead", have["prof_go_gc_pause_time"]);

    for (auto &f : u.files) {
        if (!f.data || !ends_with(f.name, ".pprof")) continue;
        auto summary = read(f);
        const PprofSummary &p = *summary;
        if (contains(f.name, "cpu")) {
            if (auto cpu = sum_of(p, "cpu"); cpu && dur_s > 0)
                set_if_absent(m, "prof_go_cpu_cores", *cpu / (dur_s * 1e9));
        } else if (contains(f.name, "heap")) {
            if (auto v = sum_of(p, "inuse_objects")) set_if_absent(m, "prof_go_lifetime_heap_objects", *v);
            if (auto v = sum_of(p, "inuse_space")) set_if_absent(m, "prof_go_lifetime_heap_bytes", *v);
        } else if (contains(f.name, "block")) {
            if (auto v = sum_of(p, "delay")) set_if_absent(m, "prof_go_blocked_time", *v);
        } else if (contains(f.name, "mutex")) {
            if (auto v = sum_of(p, "delay")) set_if_absent(m, "prof_go_mutex_delay_time", *v);
        } else if (contains(f.name, "goroutine")) {
            auto v = sum_of(p, "goroutine");
            if (!v) v = sum_of(p, "goroutines");
            if (v) set_if_absent(m, "prof_go_num_goroutine", *v);
        }
    }
}

void python(const ProfileUpload &u, const Summaries &read, double dur_s, Metrics &m) {
    const ProfileFile *file = nullptr;
    for (auto &f : u.files) {
        if (!f.data) continue;
        if (f.name == "auto" || f.name == "main" || f.name == "prof" || ends_with(f.name, ".pprof")) {
            file = &f;
            break;
        }
    }
    if (!file) return;
    auto summary = read(*file);
    const PprofSummary &p = *summary;
    auto per_sec = [&](double v) { return dur_s > 0 ? v / dur_s : 0.0; };
    if (auto v = sum_of(p, "cpu-time"); v && dur_s > 0) m.emplace_back("prof_python_cpu_cores", *v / (dur_s * 1e9));
    if (auto v = sum_of(p, "alloc-space")) {
        m.emplace_back("prof_python_alloc_bytes_total", *v);
        m.emplace_back("prof_python_alloc_bytes_per_sec", per_sec(*v));
    }
    if (auto v = sum_of(p, "alloc-samples")) m.emplace_back("prof_python_allocs_per_sec", per_sec(*v));
    if (auto v = sum_of(p, "lock-acquire")) m.emplace_back("prof_python_lock_acquisitions_per_sec", per_sec(*v));
    if (auto v = sum_of(p, "lock-acquire-wait")) m.emplace_back("prof_python_lock_acquisition_time", *v);
    if (auto v = sum_of(p, "lock-release-hold")) m.emplace_back("prof_python_lock_hold_time", *v);
    if (auto v = sum_of(p, "exception-samples")) {
        m.emplace_back("prof_python_exceptions_total", *v);
        m.emplace_back("prof_python_exceptions_per_sec", per_sec(*v));
    }
    if (auto v = sum_of(p, "wall-time")) m.emplace_back("prof_python_wall_time", *v);
    if (auto v = sum_of(p, "heap-space")) m.emplace_back("prof_python_lifetime_heap_bytes", *v);
}

void nodejs(const ProfileUpload &u, const Summaries &read, double dur_s, Metrics &m) {
    for (auto &f : u.files) {
        if (!f.data) continue;
        if (f.name.rfind("wall", 0) == 0) {
            auto summary = read(f);
            const PprofSummary &p = *summary;
            if (auto v = sum_of(p, "cpu"); v && dur_s > 0) m.emplace_back("prof_nodejs_cpu_cores", *v / (dur_s * 1e9));
            if (auto v = sum_of(p, "wall")) m.emplace_back("prof_nodejs_wall_time", *v);
        } else if (f.name.rfind("space", 0) == 0) {
            auto summary = read(f);
            const PprofSummary &p = *summary;
            if (auto v = sum_of(p, "inuse_space")) m.emplace_back("prof_nodejs_lifetime_heap_bytes", *v);
            if (auto v = sum_of(p, "inuse_objects")) m.emplace_back("prof_nodejs_lifetime_heap_objects", *v);
        }
    }
}

void java(const ProfileUpload &u, double dur_s, Metrics &m) {
#ifdef TRIB_PROFILING_HAVE_JFR
    for (auto &f : u.files) {
        if (!f.data || f.data->empty()) continue;
        if (f.name == "main" || f.name == "main.jfr" || f.name == "auto" || f.name == "auto.jfr" ||
            ends_with(f.name, ".jfr")) {
            auto profiles =
                f.jfr ? f.jfr : std::make_shared<const JfrProfiles>(decode_jfr(*f.data, nullptr, u.inflate));
            for (auto &[name, value] : jvm_metrics(*profiles, dur_s))
                m.emplace_back(name.rfind("prof_", 0) == 0 ? name : "prof_jvm_" + name, value);
            return;
        }
    }
#else
    (void)u;
    (void)dur_s;
    (void)m;
#endif
}

} // namespace

std::vector<std::pair<std::string, double>> compute_profile_metrics(const ProfileUpload &u, PprofDecoder decoder) {
    Metrics m;
    Summaries read{u, decoder};
    auto it = u.tags.find("language");
    std::string lang = it == u.tags.end() ? "" : it->second;
    double dur_s = static_cast<double>(u.end_ns - u.start_ns) / 1e9;
    if (lang == "golang") golang(u, read, dur_s, m);
    else if (lang == "python") python(u, read, dur_s, m);
    else if (lang == "nodejs") nodejs(u, read, dur_s, m);
    else if (lang == "java") java(u, dur_s, m);
    return m;
}

MetricsWork prepare_metrics(ProfileUpload upload) {
    MetricsWork work{std::move(upload), {}};
    const ProfileUpload &u = work.upload;
    auto it = u.tags.find("language");
    std::string lang = it == u.tags.end() ? "" : it->second;
    bool first_only = lang == "python" || lang == "java";
    for (auto &f : work.upload.files) {
        if (!f.data) continue;
        bool read = false;
        if (lang == "golang") read = f.name == "metrics.json" || f.name == "metrics" || ends_with(f.name, ".pprof");
        else if (lang == "python")
            read = f.name == "auto" || f.name == "main" || f.name == "prof" || ends_with(f.name, ".pprof");
        else if (lang == "nodejs") read = f.name.rfind("wall", 0) == 0 || f.name.rfind("space", 0) == 0;
        else if (lang == "java")
            read = !f.data->empty() && (f.name == "main" || f.name == "main.jfr" || f.name == "auto" ||
                                        f.name == "auto.jfr" || ends_with(f.name, ".jfr"));
        if (!read) continue;
        if (!f.pprof && !f.jfr && detect_codec(*f.data) != Codec::none) {
            Inflated raw = inflate(*f.data, u.inflate);
            work.held.push_back(std::move(raw.held));
            f.data = std::make_shared<const std::string>(std::move(raw.data));
        }
        if (first_only) break;
    }
    return work;
}

std::optional<trib::Point> generate_profile_metrics(const ProfileUpload &u) {
    auto values = compute_profile_metrics(u);
    if (values.empty()) return std::nullopt;
    trib::Point p("profiling_metrics", "metric", u.end_ns);
    for (const char *k : {"language", "host", "service", "env", "version"}) {
        auto it = u.tags.find(k);
        if (it != u.tags.end() && !it->second.empty()) p.tag(k, it->second);
    }
    if (!p.find_tag("service")) p.tag("service", "unnamed-service");
    for (auto &[k, v] : values) p.field(Field::Float(k, v));
    return p;
}

} // namespace trib::profiling
