#include "go_pull.hpp"

#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/URI.h>

#include <chrono>
#include <istream>
#include <unordered_map>

namespace trib::profile {

namespace pp = perftools::profiles;

const GoProfileType &go_profile_type(const std::string &name) {
    static const std::vector<GoProfileType> types{
        {"cpu", "/debug/pprof/profile?seconds=10", "cpu.pprof", {}},
        {"goroutine", "/debug/pprof/goroutine", "goroutines.pprof", {}},
        {"heap", "/debug/pprof/heap", "delta-heap.pprof", {"alloc_objects", "alloc_space"}},
        {"mutex", "/debug/pprof/mutex", "delta-mutex.pprof", {"contentions", "delay"}},
        {"block", "/debug/pprof/block", "delta-block.pprof", {"contentions", "delay"}},
    };
    for (auto &t : types)
        if (t.name == name) return t;
    throw std::invalid_argument("unknown Go profile type " + name);
}

namespace {

// A sample's identity across two profiles: the resolved stack (function, file, line per
// frame; the address when there is no line info) and its labels.
std::string sample_key(const pp::Profile &p, const pp::Sample &s,
                       const std::unordered_map<uint64_t, const pp::Location *> &locs,
                       const std::unordered_map<uint64_t, const pp::Function *> &funcs) {
    auto str = [&](int64_t i) -> std::string_view {
        return (i >= 0 && i < p.string_table_size()) ? std::string_view(p.string_table(int(i))) : std::string_view();
    };
    std::string key;
    for (uint64_t id : s.location_id()) {
        auto it = locs.find(id);
        if (it == locs.end()) {
            key += "?" + std::to_string(id) + ";";
            continue;
        }
        const pp::Location &loc = *it->second;
        if (loc.line_size() == 0) key += "@" + std::to_string(loc.address());
        for (auto &ln : loc.line()) {
            auto f = funcs.find(ln.function_id());
            if (f != funcs.end()) {
                key += str(f->second->name());
                key += '|';
                key += str(f->second->filename());
            }
            key += ':' + std::to_string(ln.line()) + ',';
        }
        key += ';';
    }
    for (auto &l : s.label()) {
        key += '#';
        key += str(l.key());
        key += '=';
        if (l.str()) key += str(l.str());
        else key += std::to_string(l.num()) + std::string(str(l.num_unit()));
    }
    return key;
}

struct Index {
    std::unordered_map<uint64_t, const pp::Location *> locs;
    std::unordered_map<uint64_t, const pp::Function *> funcs;
    explicit Index(const pp::Profile &p) {
        for (auto &l : p.location()) locs[l.id()] = &l;
        for (auto &f : p.function()) funcs[f.id()] = &f;
    }
};

} // namespace

pp::Profile delta_profile(const pp::Profile &prev, const pp::Profile &cur,
                          const std::vector<std::string> &delta_types) {
    std::vector<int> cur_idx, prev_idx;
    for (auto &t : delta_types) {
        int c = profiling::find_sample_type(cur, t), p = profiling::find_sample_type(prev, t);
        if (c < 0) continue;
        cur_idx.push_back(c);
        prev_idx.push_back(p);
    }
    Index pi(prev), ci(cur);
    std::unordered_map<std::string, std::vector<int64_t>> before;
    for (auto &s : prev.sample()) {
        auto &acc = before[sample_key(prev, s, pi.locs, pi.funcs)];
        acc.resize(prev_idx.size());
        for (size_t k = 0; k < prev_idx.size(); ++k)
            if (prev_idx[k] >= 0 && prev_idx[k] < s.value_size()) acc[k] += s.value(prev_idx[k]);
    }
    pp::Profile out = cur;
    out.clear_sample();
    for (auto &s : cur.sample()) {
        pp::Sample d = s;
        auto it = before.find(sample_key(cur, s, ci.locs, ci.funcs));
        if (it != before.end()) {
            for (size_t k = 0; k < cur_idx.size(); ++k)
                if (cur_idx[k] < d.value_size()) d.set_value(cur_idx[k], d.value(cur_idx[k]) - it->second[k]);
            // Subtract a baseline once, even when several current samples share its key.
            before.erase(it);
        }
        bool zero = true;
        for (auto v : d.value()) zero &= v == 0;
        if (!zero) *out.add_sample() = std::move(d);
    }
    out.set_time_nanos(prev.time_nanos());
    out.set_duration_nanos(cur.time_nanos() - prev.time_nanos());
    return out;
}

GoPuller::GoPuller(trib::Host &host, GoPullConfig cfg, const ProfileConfig &parent)
    : host_(host), cfg_(std::move(cfg)), parent_(parent) {}

GoPuller::~GoPuller() { stop(); }

void GoPuller::start() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void GoPuller::stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    {
        std::lock_guard<std::mutex> g(session_mu_);
        if (session_) session_->abort();
    }
    if (thread_.joinable()) thread_.join();
}

void GoPuller::leadership_changed() { cv_.notify_all(); }

bool GoPuller::may_pull() const { return !parent_.election || host_.is_leader(); }

void GoPuller::run() {
    using clock = std::chrono::steady_clock;
    for (;;) {
        auto round_start = clock::now();
        {
            std::lock_guard<std::mutex> g(mu_);
            if (stopping_) return;
        }
        if (may_pull()) {
            try {
                pull_round();
            } catch (const std::exception &e) {
                host_.warn(std::string("profile go pull ") + cfg_.url + ": " + e.what());
            }
        } else {
            // A baseline from before losing leadership would make the next delta span the
            // gap; start over when leadership returns.
            previous_.clear();
        }
        std::unique_lock<std::mutex> lk(mu_);
        bool was_leading = may_pull();
        cv_.wait_until(lk, round_start + cfg_.interval, [&] { return stopping_ || (!was_leading && may_pull()); });
        if (stopping_) return;
    }
}

std::string GoPuller::fetch(const std::string &path_and_query, int timeout_s) {
    Poco::URI base(cfg_.url);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (base.getScheme() == "https" || cfg_.tls_open) {
        Poco::Net::Context::Ptr ctx(new Poco::Net::Context(
            Poco::Net::Context::TLS_CLIENT_USE, cfg_.tls_key, cfg_.tls_cert, cfg_.tls_ca,
            cfg_.insecure_skip_verify ? Poco::Net::Context::VERIFY_NONE : Poco::Net::Context::VERIFY_RELAXED));
        session = std::make_unique<Poco::Net::HTTPSClientSession>(base.getHost(), base.getPort(), ctx);
    } else {
        session = std::make_unique<Poco::Net::HTTPClientSession>(base.getHost(), base.getPort());
    }
    session->setTimeout(Poco::Timespan(timeout_s, 0));
    {
        std::lock_guard<std::mutex> g(session_mu_);
        session_ = session.get();
    }
    struct Clear {
        GoPuller *self;
        ~Clear() {
            std::lock_guard<std::mutex> g(self->session_mu_);
            self->session_ = nullptr;
        }
    } clear{this};
    {
        std::lock_guard<std::mutex> g(mu_);
        if (stopping_) throw std::runtime_error("stopping");
    }
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path_and_query, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("User-Agent", "tributary-profile");
    session->sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream &in = session->receiveResponse(resp);
    if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK)
        throw std::runtime_error("GET " + path_and_query + ": HTTP " + std::to_string(int(resp.getStatus())));
    std::string body;
    char buf[65536];
    const uint64_t limit = parent_.body_limit_bytes();
    while (in) {
        in.read(buf, sizeof buf);
        body.append(buf, static_cast<size_t>(in.gcount()));
        if (body.size() > limit) throw std::runtime_error("GET " + path_and_query + ": body over body_size_limit_mb");
    }
    return body;
}

int GoPuller::pull_round() {
    int uploads = 0;
    std::vector<std::pair<std::string, std::string>> delta_files;
    int64_t delta_start = 0, delta_end = 0;
    for (auto &name : cfg_.enabled_types) {
        {
            std::lock_guard<std::mutex> g(mu_);
            if (stopping_) break;
        }
        if (!may_pull()) break;
        const auto &type = go_profile_type(name);
        std::string raw;
        try {
            raw = fetch(type.path, name == "cpu" ? 10 + 15 : 15);
        } catch (const std::exception &e) {
            host_.warn("profile go pull " + cfg_.url + " " + name + ": " + e.what());
            host_.counter_add("profile_pull_errors", 1);
            continue;
        }
        try {
            if (type.delta_types.empty()) {
                auto prof = profiling::parse_pprof(raw, parent_.body_limit_bytes());
                int64_t start = prof.time_nanos();
                int64_t end = start + (prof.duration_nanos() > 0 ? prof.duration_nanos() : 0);
                emit_upload({{type.file, std::move(raw)}}, start, end);
                ++uploads;
                continue;
            }
            auto cur = profiling::parse_pprof(raw, parent_.body_limit_bytes());
            auto prev = previous_.find(name);
            if (prev == previous_.end()) {
                previous_.emplace(name, std::move(cur)); // the first pull is only a baseline
                continue;
            }
            auto delta = delta_profile(prev->second, cur, type.delta_types);
            if (delta_files.empty()) {
                delta_start = delta.time_nanos();
                delta_end = delta.time_nanos() + delta.duration_nanos();
            }
            prev->second = std::move(cur);
            delta_files.emplace_back(type.file, trib::compression::gzip(delta.SerializeAsString()));
        } catch (const profiling::DecodeError &e) {
            host_.warn("profile go pull " + cfg_.url + " " + name + ": " + e.what());
            host_.counter_add("profile_pull_errors", 1);
        }
    }
    if (!delta_files.empty()) {
        emit_upload(std::move(delta_files), delta_start, delta_end);
        ++uploads;
    }
    return uploads;
}

void GoPuller::emit_upload(std::vector<std::pair<std::string, std::string>> files, int64_t start_ns, int64_t end_ns) {
    profiling::ProfileUpload u;
    if (!cfg_.service.empty()) u.tags["service"] = cfg_.service;
    if (!cfg_.env.empty()) u.tags["env"] = cfg_.env;
    if (!cfg_.version.empty()) u.tags["version"] = cfg_.version;
    u.tags["language"] = "golang";
    u.tags["runtime"] = "go";
    // DataKit: input tags override, except the pull job's own tags (sub_custom_tags), which win.
    profiling::TagMap global = host_.global_tags();
    profiling::merge_profile_tags(u.tags, {.overrides = {&parent_.tags, &cfg_.tags}, .global = &global});
    u.start_ns = start_ns;
    u.end_ns = end_ns;
    u.format = "pprof";
    u.profiler = "pprof";
    for (auto &[name, data] : files)
        u.files.push_back({name, "application/octet-stream", std::make_shared<const std::string>(std::move(data))});
    u.event_json = profiling::build_event_json(u);

    std::vector<trib::Point> points{profiling::build_profile_point(u, profiling::new_profile_id())};
    if (parent_.generate_metrics) {
        try {
            if (auto m = profiling::generate_profile_metrics(u)) points.push_back(std::move(*m));
        } catch (const std::exception &e) {
            host_.warn(std::string("generate_metrics (go pull): ") + e.what());
        }
    }
    trib_status st = host_.emit(points);
    if (st != TRIB_OK) {
        host_.warn("profile go pull " + cfg_.url + ": host did not take the upload (status " + std::to_string(int(st)) +
                   "); it is dropped, the next interval pulls again");
        host_.counter_add("profile_pull_dropped", 1);
    } else {
        host_.counter_add("profile_pull_uploads", 1);
    }
}

} // namespace trib::profile
