#include "influxdb_sink.hpp"

#include "config/toml_json.hpp"
#include "host/log.hpp"

#include <tributary/line_protocol.hpp>

#include <limits>

namespace trib::core {
namespace {

std::string string_key(const nlohmann::json &t, const char *key, const std::string &fallback) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw std::invalid_argument(std::string("influxdb sink: '") + key + "' must be a string");
    return it->get<std::string>();
}

std::chrono::milliseconds duration_key(const nlohmann::json &t, const char *key, std::chrono::milliseconds fallback) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return fallback;
    try {
        if (it->is_number()) return std::chrono::milliseconds(static_cast<int64_t>(it->get<double>() * 1000));
        if (it->is_string()) return parse_duration(it->get<std::string>());
    } catch (const std::invalid_argument &e) {
        throw std::invalid_argument(std::string("'") + key + "': " + e.what());
    }
    throw std::invalid_argument(std::string("'") + key + "' must be a duration string such as \"10s\"");
}

std::string error_text(const HttpPostResult &r) {
    if (r.status == 0) return r.error;
    std::string msg = r.body;
    // InfluxDB 1.x answers {"error":"..."}.
    try {
        auto j = parse_json_bounded(r.body);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) msg = j["error"].get<std::string>();
    } catch (...) {}
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    return "HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg);
}

} // namespace

InfluxDbSinkConfig InfluxDbSinkConfig::from_json(const nlohmann::json &t) {
    if (!t.is_object()) throw std::invalid_argument("influxdb sink: the [[sinks]] table must be a table");
    InfluxDbSinkConfig c;
    c.url = string_key(t, "url", c.url);
    parse_upstream_url(c.url); // validates
    c.database = string_key(t, "database", "");
    if (c.database.empty()) throw std::invalid_argument("influxdb sink: 'database' is required");
    c.retention_policy = string_key(t, "retention_policy", "");
    c.precision = string_key(t, "precision", "ns");
    if (c.precision != "ns" && c.precision != "n" && c.precision != "us" && c.precision != "u" && c.precision != "ms" &&
        c.precision != "s")
        throw std::invalid_argument("influxdb sink: 'precision' must be one of ns, us, ms, s (got '" + c.precision +
                                    "')");
    c.username = string_key(t, "username", "");
    c.password = string_key(t, "password", "");
    c.token = string_key(t, "token", "");
    if (!c.token.empty() && (!c.username.empty() || !c.password.empty()))
        throw std::invalid_argument("influxdb sink: set either 'token' or 'username'/'password', not both");
    c.timeout = duration_key(t, "timeout", c.timeout);
    if (c.timeout.count() <= 0) throw std::invalid_argument("influxdb sink: 'timeout' must be positive");
    if (auto it = t.find("create_database"); it != t.end()) {
        if (!it->is_boolean()) throw std::invalid_argument("influxdb sink: 'create_database' must be true or false");
        c.create_database = it->get<bool>();
    }
    if (auto it = t.find("max_body_kb"); it != t.end()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 1)
            throw std::invalid_argument("influxdb sink: 'max_body_kb' must be a positive integer");
        c.max_body_bytes = static_cast<size_t>(it->get<int64_t>()) << 10;
    }
    c.tls = read_upstream_tls(t, "influxdb sink");
    return c;
}

InfluxDbSink::InfluxDbSink(std::string name, InfluxDbSinkConfig config)
    : name_(std::move(name)), cfg_(std::move(config)), base_(parse_upstream_url(cfg_.url)) {
    std::string precision = "n";
    if (cfg_.precision == "us" || cfg_.precision == "u") {
        precision = "u";
        time_divisor_ = 1000;
    } else if (cfg_.precision == "ms") {
        precision = "ms";
        time_divisor_ = 1000000;
    } else if (cfg_.precision == "s") {
        precision = "s";
        time_divisor_ = 1000000000;
    }
    write_path_ = base_.path + "/write?db=" + url_encode(cfg_.database);
    if (!cfg_.retention_policy.empty()) write_path_ += "&rp=" + url_encode(cfg_.retention_policy);
    write_path_ += "&precision=" + precision;
    if (!cfg_.username.empty()) write_path_ += "&u=" + url_encode(cfg_.username) + "&p=" + url_encode(cfg_.password);
    std::shared_ptr<UpstreamTlsContext> tls;
    if (base_.scheme == "https") {
        try {
            tls = make_upstream_tls_context(cfg_.tls);
        } catch (const std::invalid_argument &ex) {
            throw std::invalid_argument("influxdb sink: " + std::string(ex.what()));
        }
        if (cfg_.tls.insecure_skip_verify)
            log_warn("influxdb", insecure_skip_verify_warning("influxdb sink '" + name_ + "'"));
    }
    http_ = std::make_unique<UpstreamHttpClient>(base_, cfg_.timeout, std::move(tls));
}

std::vector<std::string> InfluxDbSink::encode(const std::vector<trib::Point> &batch) const {
    std::vector<std::string> bodies;
    std::string body, line;
    for (const auto &p : batch) {
        // A light copy: tags and fields only, so attachments are never touched here.
        trib::Point q(p.measurement, p.category, p.time_ns / time_divisor_);
        q.tags = p.tags;
        q.fields.reserve(p.fields.size());
        for (const auto &f : p.fields) {
            if (f.type == TRIB_FIELD_UINT) {
                if (f.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                    q.fields.push_back(trib::Field::Int(f.key, static_cast<int64_t>(f.u)));
                else q.fields.push_back(trib::Field::Float(f.key, static_cast<double>(f.u)));
            } else {
                q.fields.push_back(f);
            }
        }
        line.clear();
        if (!trib::line_protocol::append_line(line, q)) continue;
        if (!body.empty() && body.size() + line.size() > cfg_.max_body_bytes) {
            bodies.push_back(std::move(body));
            body.clear();
        }
        body += line;
    }
    if (!body.empty()) bodies.push_back(std::move(body));
    return bodies;
}

bool InfluxDbSink::create_database(std::string &err) {
    std::string q = base_.path + "/query?q=" + url_encode("CREATE DATABASE \"" + cfg_.database + "\"");
    if (!cfg_.username.empty()) q += "&u=" + url_encode(cfg_.username) + "&p=" + url_encode(cfg_.password);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!cfg_.token.empty()) headers.emplace_back("Authorization", "Token " + cfg_.token);
    auto r = http_->post(q, "application/x-www-form-urlencoded", headers, "");
    if (classify_http_result(r) == TRIB_OK) return true;
    err = "influxdb " + base_.origin() + ": CREATE DATABASE " + cfg_.database + " failed: " + error_text(r);
    return false;
}

trib_status InfluxDbSink::post_body(const std::string &body, std::string &err, bool may_create) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!cfg_.token.empty()) headers.emplace_back("Authorization", "Token " + cfg_.token);
    auto r = http_->post(write_path_, "text/plain; charset=utf-8", headers, body);
    trib_status st = classify_http_result(r);
    if (st == TRIB_OK) return st;
    if (r.status == 404 && may_create && cfg_.create_database &&
        r.body.find("database not found") != std::string::npos) {
        if (!create_database(err)) return TRIB_RETRY;
        return post_body(body, err, false);
    }
    err = "influxdb " + base_.origin() + " /write: " + error_text(r);
    return st;
}

trib_status InfluxDbSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    // Bodies are idempotent in InfluxDB (same series + timestamp overwrite), so when a later
    // body fails and the whole batch is retried, the earlier ones do no harm.
    for (const auto &body : encode(batch)) {
        trib_status st = post_body(body, err, true);
        if (st != TRIB_OK) return st;
    }
    return TRIB_OK;
}

} // namespace trib::core
