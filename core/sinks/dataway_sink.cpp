#include "dataway_sink.hpp"

#include "config/toml_json.hpp"
#include "host/log.hpp"
#include "store/attachment_store.hpp"

#include <tributary/compression.hpp>
#include <tributary/line_protocol.hpp>
#include <tributary/multipart.hpp>

#include <unistd.h>

#include <algorithm>
#include <map>
#include <sys/utsname.h>

namespace trib::core {
namespace {

const std::map<std::string, std::pair<std::string, std::string>> &category_table() {
    // category → (short name, /v1/write/ path element)
    static const std::map<std::string, std::pair<std::string, std::string>> t = {
        {"metric", {"M", "metric"}},
        {"metrics", {"M", "metrics"}},
        {"network", {"N", "network"}},
        {"keyevent", {"E", "keyevent"}},
        {"object", {"O", "object"}},
        {"custom_object", {"CO", "custom_object"}},
        {"object_change", {"OCH", "object_change"}},
        {"logging", {"L", "logging"}},
        {"tracing", {"T", "tracing"}},
        {"rum", {"R", "rum"}},
        {"security", {"S", "security"}},
        {"profiling", {"P", "profiling"}},
        {"execution_log", {"EL", "siem_logging"}},
        {"llm", {"LLM", "langfuse-v2"}},
        {"agent_llm", {"AL", "agent_llm"}},
        {"dialtesting", {"DT", "dialtesting"}},
    };
    return t;
}

std::string string_key(const nlohmann::json &t, const char *key, const std::string &fallback) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw std::invalid_argument(std::string("dataway sink: '") + key + "' must be a string");
    return it->get<std::string>();
}

bool bool_key(const nlohmann::json &t, const char *key, bool fallback) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return fallback;
    if (!it->is_boolean())
        throw std::invalid_argument(std::string("dataway sink: '") + key + "' must be true or false");
    return it->get<bool>();
}

std::chrono::milliseconds duration_key(const nlohmann::json &t, const char *key, std::chrono::milliseconds fallback) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return fallback;
    std::chrono::milliseconds v;
    try {
        if (it->is_number()) v = std::chrono::milliseconds(static_cast<int64_t>(it->get<double>() * 1000));
        else if (it->is_string()) v = parse_duration(it->get<std::string>());
        else throw std::invalid_argument("must be a duration string such as \"30s\"");
    } catch (const std::invalid_argument &e) {
        throw std::invalid_argument(std::string("dataway sink: '") + key + "': " + e.what());
    }
    if (v.count() <= 0) throw std::invalid_argument(std::string("dataway sink: '") + key + "' must be positive");
    return v;
}

std::string http_error(const HttpPostResult &r) {
    if (r.status == 0) return r.error;
    std::string b = r.body.substr(0, 512);
    while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
    return "HTTP " + std::to_string(r.status) + (b.empty() ? "" : ": " + b);
}

std::string hostname() {
    char h[256] = {0};
    ::gethostname(h, sizeof h - 1);
    return h;
}

std::string go_arch() {
    struct utsname u {};
    ::uname(&u);
    std::string m = u.machine;
    if (m == "x86_64") return "amd64";
    if (m == "aarch64") return "arm64";
    if (m == "i686" || m == "i386") return "386";
    return m;
}

} // namespace

DatawaySinkConfig DatawaySinkConfig::from_json(const nlohmann::json &t) {
    if (!t.is_object()) throw std::invalid_argument("dataway sink: the [[sinks]] table must be a table");
    DatawaySinkConfig c;
    if (auto it = t.find("urls"); it != t.end()) {
        if (!it->is_array()) throw std::invalid_argument("dataway sink: 'urls' must be a list of strings");
        for (auto &u : *it) {
            if (!u.is_string()) throw std::invalid_argument("dataway sink: 'urls' must be a list of strings");
            c.urls.push_back(u.get<std::string>());
        }
    }
    if (auto u = string_key(t, "url", ""); !u.empty()) c.urls.insert(c.urls.begin(), u);
    if (c.urls.empty())
        throw std::invalid_argument(
            "dataway sink: 'urls' (or 'url') is required, e.g. [\"https://host?token=tkn_...\"]");
    for (auto &u : c.urls) {
        try {
            parse_upstream_url(u);
        } catch (const std::invalid_argument &e) {
            throw std::invalid_argument(std::string("dataway sink: 'urls': ") + e.what());
        }
    }
    c.gzip = bool_key(t, "gzip", c.gzip);
    c.timeout = duration_key(t, "timeout", c.timeout);
    c.upload_timeout = duration_key(t, "upload_timeout", c.upload_timeout);
    if (auto it = t.find("max_raw_body_kb"); it != t.end()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 1)
            throw std::invalid_argument("dataway sink: 'max_raw_body_kb' must be a positive integer");
        c.max_raw_body_bytes = static_cast<size_t>(it->get<int64_t>()) << 10;
    }
    c.enable_sinker = bool_key(t, "enable_sinker", c.enable_sinker);
    if (auto it = t.find("global_customer_keys"); it != t.end()) {
        if (!it->is_array())
            throw std::invalid_argument("dataway sink: 'global_customer_keys' must be a list of strings");
        for (auto &k : *it) {
            if (!k.is_string())
                throw std::invalid_argument("dataway sink: 'global_customer_keys' must be a list of strings");
            c.global_customer_keys.push_back(k.get<std::string>());
        }
    }
    c.datakit_version = string_key(t, "datakit_version", c.datakit_version);
    c.tls = read_upstream_tls(t, "dataway sink");
    return c;
}

DatawaySink::DatawaySink(std::string name, DatawaySinkConfig config,
                         std::vector<std::pair<std::string, std::string>> global_tags)
    : name_(std::move(name)), cfg_(std::move(config)), global_tags_(std::move(global_tags)) {
    for (auto &[k, v] : global_tags_) sinker_keys_.insert(k);
    for (auto &k : cfg_.global_customer_keys) sinker_keys_.insert(k);
    for (auto &u : cfg_.urls) {
        Endpoint e;
        e.url = parse_upstream_url(u);
        if (e.url.scheme == "https" && !tls_) {
            try {
                tls_ = make_upstream_tls_context(cfg_.tls);
            } catch (const std::invalid_argument &ex) {
                throw std::invalid_argument("dataway sink: " + std::string(ex.what()));
            }
            if (cfg_.tls.insecure_skip_verify)
                log_warn("dataway", insecure_skip_verify_warning("dataway sink '" + name_ + "'"));
        }
        e.http = std::make_unique<UpstreamHttpClient>(e.url, cfg_.timeout, tls_);
        e.upload_http = std::make_unique<UpstreamHttpClient>(e.url, cfg_.upload_timeout, tls_);
        endpoints_.push_back(std::move(e));
    }
    user_agent_ = "datakit-linux-" + go_arch() + "/" + cfg_.datakit_version + "/" + hostname();
}

std::string DatawaySink::write_path(const std::string &category) {
    auto &t = category_table();
    auto it = t.find(category);
    return "/v1/write/" + (it == t.end() ? category : it->second.second);
}

std::string DatawaySink::short_category(const std::string &category) {
    auto &t = category_table();
    auto it = t.find(category);
    return it == t.end() ? std::string() : it->second.first;
}

std::string DatawaySink::endpoint_sinker_value() const {
    std::vector<std::string> kv;
    for (auto &[k, v] : global_tags_) kv.push_back(k + "=" + v);
    std::sort(kv.begin(), kv.end());
    std::string out;
    for (auto &s : kv) {
        if (!out.empty()) out.push_back(',');
        out += s;
    }
    return out;
}

std::string DatawaySink::point_sinker_value(const trib::Point &p) const {
    std::vector<std::string> parts;
    for (auto &[k, v] : p.tags)
        if (sinker_keys_.count(k)) parts.push_back(k + "=" + v);
    for (auto &f : p.fields)
        if (f.type == TRIB_FIELD_STRING && sinker_keys_.count(f.key)) parts.push_back(f.key + "=" + f.s);
    std::string sc = short_category(p.category);
    if (sinker_keys_.count("category")) parts.push_back("category=" + sc);
    if (sinker_keys_.count("source") &&
        (sc == "L" || sc == "N" || sc == "E" || sc == "R" || sc == "OCH" || p.category == "dialtesting"))
        parts.push_back("source=" + p.measurement);
    if (sinker_keys_.count("measurement") && sc == "M") parts.push_back("measurement=" + p.measurement);
    if (sinker_keys_.count("class") && (sc == "O" || sc == "CO")) parts.push_back("class=" + p.measurement);
    std::string out;
    for (auto &s : parts) {
        if (!out.empty()) out.push_back(',');
        out += s;
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> DatawaySink::common_headers() const {
    return {{"User-Agent", user_agent_}, {"Referer", "DataKit"}};
}

trib_status DatawaySink::write_points(const std::string &category, const std::vector<const trib::Point *> &points,
                                      std::string &err) {
    // Sinker: one group (and request) per distinct X-Global-Tags value, in first-seen order.
    std::vector<std::pair<std::string, std::vector<const trib::Point *>>> groups;
    if (cfg_.enable_sinker) {
        std::map<std::string, size_t> index;
        for (auto *p : points) {
            std::string v = point_sinker_value(*p);
            auto [it, fresh] = index.emplace(v, groups.size());
            if (fresh) groups.push_back({v, {}});
            groups[it->second].second.push_back(p);
        }
    } else {
        groups.push_back({std::string(), points});
    }
    trib_status worst = TRIB_OK;
    const std::string path = write_path(category);
    for (auto &[sinker_value, pts] : groups) {
        // Bodies of at most max_raw_body_bytes before gzip.
        std::vector<std::pair<std::string, size_t>> bodies;
        std::string body, line;
        size_t count = 0;
        for (auto *p : pts) {
            line.clear();
            if (!trib::line_protocol::append_line(line, *p)) continue;
            if (!body.empty() && body.size() + line.size() > cfg_.max_raw_body_bytes) {
                bodies.emplace_back(std::move(body), count);
                body.clear();
                count = 0;
            }
            body += line;
            ++count;
        }
        if (!body.empty()) bodies.emplace_back(std::move(body), count);
        for (auto &[raw, n] : bodies) {
            auto headers = common_headers();
            headers.emplace_back("X-Points", std::to_string(n));
            headers.emplace_back("X-Pkg-Id", "dk_" + new_xid());
            if (cfg_.enable_sinker) headers.emplace_back("X-Global-Tags", sinker_value);
            std::string payload;
            if (cfg_.gzip) {
                headers.emplace_back("Content-Encoding", "gzip");
                payload = trib::compression::gzip(raw);
            }
            const std::string &sent = cfg_.gzip ? payload : raw;
            for (auto &ep : endpoints_) {
                std::string pq = ep.url.path + path + (ep.url.query.empty() ? "" : "?" + ep.url.query);
                auto r = ep.http->post(pq, "application/line-protocol", headers, sent);
                trib_status st = classify_http_result(r);
                if (st == TRIB_OK) continue;
                err = "dataway " + ep.url.origin() + path + ": " + http_error(r);
                if (st == TRIB_RETRY) return TRIB_RETRY; // the whole batch is tried again
                worst = TRIB_PERMANENT;
            }
        }
    }
    return worst;
}

trib_status DatawaySink::upload_profile(const trib::Point &p, std::string &err) {
    // The module wrote event.json in its final form (plugin.h, ATTACHMENTS): it is sent as
    // DataKit's `event` part exactly as attached, never rebuilt here.
    const trib::Attachment *event = nullptr;
    for (auto &a : p.attachments)
        if (a.name == "event.json" || a.name == "event") event = &a;
    if (!event || (!event->data && event->stored_path.empty())) {
        err = "dataway: point '" + p.measurement +
              "' carries attachments but no event.json, which /v1/upload/profiling needs (the module must attach "
              "it, see plugin.h ATTACHMENTS); dropped";
        return TRIB_PERMANENT;
    }
    // Stored attachments are read back from the host's store; one removed by retention
    // before this send cannot be sent any more.
    auto bytes_of = [&](const trib::Attachment &a) {
        auto b = attachment_bytes(a, err);
        if (!b) err = "dataway: " + err + "; the upload is dropped";
        return b;
    };
    auto event_bytes = bytes_of(*event);
    if (!event_bytes) return TRIB_PERMANENT;
    trib::multipart::Writer mp;
    mp.add_file("event", "event.json", "application/octet-stream", *event_bytes);
    for (auto &a : p.attachments) {
        if (&a == event) continue;
        std::string_view ctype = a.content_type.empty() ? "application/octet-stream" : std::string_view(a.content_type);
        auto b = bytes_of(a);
        if (!b) return TRIB_PERMANENT;
        mp.add_file(a.name, a.name, ctype, *b);
    }
    std::string ctype = mp.content_type();
    std::string body = mp.finish();

    auto &ep = endpoints_.front();
    auto headers = common_headers();
    headers.emplace_back("X-Datakit-Version", cfg_.datakit_version);
    if (cfg_.enable_sinker) {
        std::string v = point_sinker_value(p);
        headers.emplace_back("X-Global-Tags", v.empty() ? endpoint_sinker_value() : v);
    }
    std::string pq = ep.url.path + "/v1/upload/profiling" + (ep.url.query.empty() ? "" : "?" + ep.url.query);
    auto r = ep.upload_http->post(pq, ctype, headers, body);
    trib_status st = classify_http_result(r);
    if (st != TRIB_OK) err = "dataway " + ep.url.origin() + "/v1/upload/profiling: " + http_error(r);
    return st;
}

trib_status DatawaySink::write(const std::vector<trib::Point> &batch, std::string &err) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const trib::Point *>> by_category;
    trib_status worst = TRIB_OK;
    std::string first_err;
    for (auto &p : batch) {
        if (p.category == "profiling" && !p.attachments.empty()) {
            std::string e;
            trib_status st = upload_profile(p, e);
            if (st == TRIB_RETRY) {
                err = e;
                return TRIB_RETRY;
            }
            if (st != TRIB_OK) {
                worst = TRIB_PERMANENT;
                if (first_err.empty()) first_err = e;
            }
            continue;
        }
        auto [it, fresh] = by_category.try_emplace(p.category);
        if (fresh) order.push_back(p.category);
        it->second.push_back(&p);
    }
    for (auto &cat : order) {
        std::string e;
        trib_status st = write_points(cat, by_category[cat], e);
        if (st == TRIB_RETRY) {
            err = e;
            return TRIB_RETRY;
        }
        if (st != TRIB_OK) {
            worst = TRIB_PERMANENT;
            if (first_err.empty()) first_err = e;
        }
    }
    if (worst != TRIB_OK) err = first_err;
    return worst;
}

} // namespace trib::core
