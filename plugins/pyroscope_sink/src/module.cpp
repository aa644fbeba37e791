// pyroscope sink: forwards `profile` points to Grafana Pyroscope. pprof parts go out in one
// push request per upload (POST /push.v1.PusherService/Push, Connect unary over HTTP/1.1,
// application/proto), re-encoded as gzip (Pyroscope reads gzip or plain, not zstd/LZ4);
// JFR through /ingest unchanged. Facts: shared/spec/forwarding_and_security.md §1.
#include "http_client.hpp"
#include "series.hpp"

#include <tributary/config_map.hpp>
#include <tributary/plugin.hpp>
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/relabel/relabel.hpp>

#include <Poco/Base64Encoder.h>
#include <Poco/URI.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "pyroscope_sink_sample_conf.inc"

namespace {

using trib::StatusError;
using trib::sv;
using namespace trib::pyroscope_sink;
using json = nlohmann::json;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string base64(const std::string &s) {
    std::ostringstream os;
    Poco::Base64Encoder enc(os);
    enc.rdbuf()->setLineLength(0);
    enc << s;
    enc.close();
    return os.str();
}

struct Options {
    Endpoint endpoint;
    TlsOptions tls;
    std::chrono::milliseconds timeout{10000};
    std::vector<std::pair<std::string, std::string>> headers; // tenant, auth, extra
    uint32_t max_retries = 10;                                // for 429
    std::chrono::milliseconds max_age{55 * 60 * 1000};
    bool restamp = true;
    bool pyroscope_sample_labels = true;
};

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': " + why);
}

std::string str_key(const json &cfg, const char *key, const std::string &def) {
    if (!cfg.contains(key)) return def;
    if (!cfg.at(key).is_string()) bad(key, "expected a string, got " + cfg.at(key).dump());
    return cfg.at(key).get<std::string>();
}

Options parse_options(const std::string &text) {
    json cfg = json::parse(text, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) throw StatusError(TRIB_INVALID_ARGUMENT, "config is not a JSON object");
    static const std::set<std::string> known{
        "type",    "name",        "categories", "measurements",        "spool",
        "url",     "tenant_id",   "basic_auth", "bearer_token",        "headers",
        "timeout", "max_retries", "max_age",    "on_too_old",          "sample_labels",
        "tls_ca",  "tls_cert",    "tls_key",    "insecure_skip_verify"};
    for (auto &[k, v] : cfg.items())
        if (!known.count(k))
            bad(k, "unknown key (url, tenant_id, basic_auth, bearer_token, headers, timeout, max_retries, max_age, "
                   "on_too_old, sample_labels, tls_ca, tls_cert, tls_key, insecure_skip_verify)");
    Options o;
    if (!cfg.contains("url")) bad("url", "required (Pyroscope's base URL, e.g. \"http://pyroscope:4040\")");
    try {
        o.endpoint = parse_endpoint(str_key(cfg, "url", ""));
        o.timeout = trib::config::parse_duration(str_key(cfg, "timeout", "10s"));
        o.max_age = trib::config::parse_duration(str_key(cfg, "max_age", "55m"));
    } catch (const std::invalid_argument &e) {
        throw StatusError(TRIB_INVALID_ARGUMENT, e.what());
    }
    auto tls_file = [&](const char *key, std::string &out) {
        out = str_key(cfg, key, "");
        if (out.empty()) return;
        if (!o.endpoint.https) bad(key, "only for an https url");
        if (!std::ifstream(out)) bad(key, "cannot read " + out);
    };
    tls_file("tls_ca", o.tls.ca_file);
    tls_file("tls_cert", o.tls.cert_file);
    tls_file("tls_key", o.tls.key_file);
    if (o.tls.cert_file.empty() != o.tls.key_file.empty())
        bad(o.tls.cert_file.empty() ? "tls_key" : "tls_cert", "a client certificate needs both tls_cert and tls_key");
    if (cfg.contains("insecure_skip_verify")) {
        if (!cfg.at("insecure_skip_verify").is_boolean()) bad("insecure_skip_verify", "expected true or false");
        o.tls.insecure_skip_verify = cfg.at("insecure_skip_verify").get<bool>();
    }
    if (o.timeout.count() <= 0) bad("timeout", "must be positive");
    if (o.max_age.count() <= 0) bad("max_age", "must be positive");
    std::string tenant = str_key(cfg, "tenant_id", "");
    if (!tenant.empty()) {
        // Pyroscope's tenant ID rule (about-tenant-ids.md).
        if (tenant.size() > 150 || tenant == "." || tenant == "..") bad("tenant_id", "not a valid Pyroscope tenant ID");
        for (char c : tenant)
            if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("!-_.*'()", c))
                bad("tenant_id",
                    "character '" + std::string(1, c) + "' is not allowed (letters, digits, ! - _ . * ' ( ))");
        o.headers.emplace_back("X-Scope-OrgID", tenant);
    }
    std::string bearer = str_key(cfg, "bearer_token", "");
    if (cfg.contains("basic_auth")) {
        const json &b = cfg.at("basic_auth");
        if (!b.is_object() || !b.contains("username") || !b.at("username").is_string() ||
            (b.contains("password") && !b.at("password").is_string()))
            bad("basic_auth", "expected { username = \"...\", password = \"...\" }");
        if (!bearer.empty()) bad("bearer_token", "set either basic_auth or bearer_token, not both");
        std::string pass = b.contains("password") ? b.at("password").get<std::string>() : "";
        o.headers.emplace_back("Authorization", "Basic " + base64(b.at("username").get<std::string>() + ":" + pass));
    } else if (!bearer.empty()) {
        o.headers.emplace_back("Authorization", "Bearer " + bearer);
    }
    if (cfg.contains("headers")) {
        if (!cfg.at("headers").is_object()) bad("headers", "expected a table of strings");
        for (auto &[k, v] : cfg.at("headers").items()) {
            if (!v.is_string()) bad("headers", "value of '" + k + "' is not a string");
            o.headers.emplace_back(k, v.get<std::string>());
        }
    }
    if (cfg.contains("max_retries")) {
        if (!cfg.at("max_retries").is_number_integer() || cfg.at("max_retries").get<int64_t>() < 1)
            bad("max_retries", "expected an integer >= 1");
        o.max_retries = uint32_t(std::min<int64_t>(cfg.at("max_retries").get<int64_t>(), 1000000));
    }
    std::string too_old = str_key(cfg, "on_too_old", "restamp");
    if (too_old != "restamp" && too_old != "drop") bad("on_too_old", "expected \"restamp\" or \"drop\"");
    o.restamp = too_old == "restamp";
    std::string sl = str_key(cfg, "sample_labels", "pyroscope");
    if (sl != "pyroscope" && sl != "keep") bad("sample_labels", "expected \"pyroscope\" or \"keep\"");
    o.pyroscope_sample_labels = sl == "pyroscope";
    return o;
}

// dd-trace's root span id as Pyroscope's per-sample span_id, and no sample label whose name
// Pyroscope's legacy validation would reject (the whole push would get 400).
trib::relabel::Rules pyroscope_sample_rules() {
    return trib::relabel::parse_rules(json::array({
        {{"scope", "pprof"},
         {"action", "rename"},
         {"source_labels", {"local root span id"}},
         {"target_label", "span_id"},
         {"value_format", "hex16"}},
        {{"scope", "pprof"}, {"action", "labeldrop"}, {"regex", ".*[^A-Za-z0-9_.].*|[0-9].*"}},
    }));
}

// Remembers what was delivered or dropped, so a batch retried after a later point failed
// does not send the earlier ones again. Bounded.
class SeenSet {
  public:
    bool contains(const std::string &k) const { return set_.count(k) != 0; }
    void add(const std::string &k) {
        if (!set_.insert(k).second) return;
        order_.push_back(k);
        if (order_.size() > 8192) {
            set_.erase(order_.front());
            order_.pop_front();
        }
    }

  private:
    std::unordered_set<std::string> set_;
    std::deque<std::string> order_;
};

enum class Outcome { delivered, dropped, retry };

HttpClient make_client(const Options &o) {
    try {
        return HttpClient(o.endpoint, o.timeout, o.tls);
    } catch (const std::invalid_argument &e) {
        throw StatusError(TRIB_INVALID_ARGUMENT, e.what());
    }
}

class PyroscopeSink : public trib::Instance {
  public:
    PyroscopeSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), opts_(parse_options(config_json)), client_(make_client(opts_)) {
        if (opts_.pyroscope_sample_labels) sample_rules_ = pyroscope_sample_rules().pprof;
        if (opts_.tls.insecure_skip_verify)
            host().warn("INSECURE: pyroscope sink has insecure_skip_verify = true: the receiver's TLS certificate and "
                        "host name are NOT verified");
    }

    void write(const trib_batch &batch) override {
        for (size_t i = 0; i < batch.point_count; ++i) {
            const trib_point &p = *TRIB_AT(trib_point, batch.points, i);
            if (sv(p.measurement) != "profile" || sv(p.category) != "profiling") {
                host().counter_add("pyroscope_skipped_points", 1);
                continue;
            }
            std::string key = delivery_key(p);
            if (seen_.contains(key)) continue;
            Outcome o = send_point(p, key);
            if (o == Outcome::retry) throw StatusError(TRIB_RETRY, last_error_);
            seen_.add(key);
            attempts_.erase(key);
        }
    }

  private:
    static std::string field_string(const trib_point &p, std::string_view key) {
        for (size_t i = 0; i < p.field_count; ++i) {
            const trib_field *f = TRIB_AT(trib_field, p.fields, i);
            if (sv(f->key) == key && f->type == TRIB_FIELD_STRING) return std::string(sv(f->value.s));
        }
        return {};
    }
    static int64_t field_int(const trib_point &p, std::string_view key) {
        for (size_t i = 0; i < p.field_count; ++i) {
            const trib_field *f = TRIB_AT(trib_field, p.fields, i);
            if (sv(f->key) == key && f->type == TRIB_FIELD_INT) return f->value.i;
        }
        return 0;
    }

    static std::string delivery_key(const trib_point &p) {
        std::string id = field_string(p, "profile_id");
        if (!id.empty()) return id;
        std::string k = std::to_string(p.time_ns);
        for (size_t i = 0; i < p.attachment_count; ++i) {
            const trib_attachment *a = TRIB_AT(trib_attachment, p.attachments, i);
            k += "|" + std::string(sv(a->name)) + ":" + std::to_string(a->data.len);
        }
        return k;
    }

    Outcome send_point(const trib_point &p, const std::string &key) {
        std::vector<std::pair<std::string, std::string>> tags;
        std::string name_tag;
        for (size_t i = 0; i < p.tag_count; ++i) {
            const trib_tag *t = TRIB_AT(trib_tag, p.tags, i);
            tags.emplace_back(std::string(sv(t->key)), std::string(sv(t->value)));
            if (tags.back().first == "__name__") name_tag = tags.back().second;
        }
        std::string format = field_string(p, "format");
        int64_t duration_ns = std::max<int64_t>(0, field_int(p, "duration")) * 1000;
        int64_t start_ns = p.time_ns;
        std::optional<int64_t> restamp;
        if (start_ns < now_ns() - int64_t(opts_.max_age.count()) * 1000000) {
            if (!opts_.restamp) {
                host().counter_add("pyroscope_dropped_too_old", 1);
                log_once("too old", "profile " + key + " is older than max_age: dropped (on_too_old = \"drop\")");
                return Outcome::dropped;
            }
            start_ns = now_ns() - duration_ns;
            restamp = start_ns;
            host().counter_add("pyroscope_restamped", 1);
        }
        if (format == "jfr") return send_jfr(p, tags, key, start_ns, duration_ns);
        if (format != "pprof") {
            host().counter_add("pyroscope_skipped_points", 1);
            log_once("format " + format, "profiles of format '" + format + "' are not forwarded (pprof and jfr are)");
            return Outcome::dropped;
        }

        std::vector<SeriesProfile> series;
        trib::relabel::PprofEdit edit;
        edit.rules = &sample_rules_;
        edit.time_nanos = restamp;
        for (size_t i = 0; i < p.attachment_count; ++i) {
            const trib_attachment *a = TRIB_AT(trib_attachment, p.attachments, i);
            std::string part(sv(a->name));
            if (!is_profile_part(part)) continue;
            std::string_view data(reinterpret_cast<const char *>(a->data.ptr), a->data.len);
            SeriesProfile sp;
            std::vector<std::string> sample_types;
            try {
                // The rewrite reads gzip, zstd and plain and hands back gzip (or the very input
                // bytes when nothing changes); LZ4 parts are inflated first.
                std::string inflated;
                std::string_view input = data;
                if (trib::profiling::detect_codec(data) == trib::profiling::Codec::lz4) {
                    inflated = trib::profiling::decompress(data);
                    input = inflated;
                }
                std::string type = name_tag;
                if (type.empty()) {
                    if (auto t = profile_type_from_part(part)) {
                        type = *t;
                    } else {
                        auto prof = trib::profiling::parse_pprof(input);
                        for (auto &st : prof.sample_type())
                            if (st.type() >= 0 && st.type() < prof.string_table_size())
                                sample_types.push_back(prof.string_table(int(st.type())));
                        type = profile_type_name(part, sample_types);
                    }
                }
                sp.gzip_pprof = trib::relabel::rewrite_pprof(input, edit);
                if (!trib::relabel::is_gzip(sp.gzip_pprof))
                    sp.gzip_pprof = trib::compression::gzip(sp.gzip_pprof, trib::relabel::kRewriteGzipLevel);
                size_t left_out = 0;
                sp.labels = series_labels(tags, type, &left_out);
                if (left_out) host().counter_add("pyroscope_labels_over_limit", double(left_out));
            } catch (const std::exception &e) {
                host().counter_add("pyroscope_unreadable_parts", 1);
                log_once("unreadable " + part,
                         "part '" + part + "' of profile " + key + " is not a readable pprof: " + e.what());
                continue;
            }
            series.push_back(std::move(sp));
        }
        if (series.empty()) {
            host().counter_add("pyroscope_skipped_points", 1);
            return Outcome::dropped;
        }
        std::string body = encode_push_request(series);
        auto headers = opts_.headers;
        headers.emplace_back("Connect-Protocol-Version", "1");
        HttpAnswer a = client_.post("/push.v1.PusherService/Push", "application/proto", body, headers);
        std::string series_id = series[0].labels.empty() ? key : describe(series[0].labels);
        Outcome o = classify(a, key, series_id);
        if (o == Outcome::delivered) {
            host().counter_add("pyroscope_pushed_requests", 1);
            host().counter_add("pyroscope_pushed_series", double(series.size()));
        }
        return o;
    }

    Outcome send_jfr(const trib_point &p, const std::vector<std::pair<std::string, std::string>> &tags,
                     const std::string &key, int64_t start_ns, int64_t duration_ns) {
        const trib_attachment *jfr = nullptr, *labels = nullptr;
        for (size_t i = 0; i < p.attachment_count; ++i) {
            const trib_attachment *a = TRIB_AT(trib_attachment, p.attachments, i);
            std::string n(sv(a->name));
            if (n == "labels") labels = a;
            else if (!jfr && n.size() > 4 && n.substr(n.size() - 4) == ".jfr") jfr = a;
        }
        if (!jfr) {
            host().counter_add("pyroscope_skipped_points", 1);
            return Outcome::dropped;
        }
        Labels l = series_labels(tags, "jfr");
        std::string service;
        for (auto &[k, v] : l)
            if (k == "service_name") service = v;
        trib::profiling::MultipartWriter w("tributary-pyroscope-sink-" + std::to_string(std::hash<std::string>{}(key)));
        auto bytes = [](const trib_attachment *a) {
            return std::string_view(reinterpret_cast<const char *>(a->data.ptr), a->data.len);
        };
        w.add_file("jfr", "jfr", "application/octet-stream", bytes(jfr));
        if (labels) w.add_file("labels", "labels", "application/octet-stream", bytes(labels));
        std::string body = w.finish();
        std::string encoded_name;
        Poco::URI::encode(ingest_name(service, l), "{}=,&+?#/ ", encoded_name);
        std::string q = "/ingest?name=" + encoded_name +
                        "&format=jfr&spyName=javaspy&from=" + std::to_string(start_ns / 1000000000) +
                        "&until=" + std::to_string((start_ns + duration_ns) / 1000000000);
        HttpAnswer a = client_.post(q, w.content_type(), body, opts_.headers);
        Outcome o = classify(a, key, service + " jfr");
        if (o == Outcome::delivered) host().counter_add("pyroscope_ingested_jfr", 1);
        return o;
    }

    static std::string describe(const Labels &l) {
        std::string s = "{";
        for (auto &[k, v] : l)
            if (k == "service_name" || k == "__name__") s += (s.size() > 1 ? "," : "") + k + "=" + v;
        return s + "}";
    }

    // 2xx delivered; 408, 5xx, no answer: retry (the host backs off; the spool holds);
    // 429: retried up to max_retries, then dropped; other 4xx: dropped, never retried.
    Outcome classify(const HttpAnswer &a, const std::string &key, const std::string &series) {
        if (a.status >= 200 && a.status < 300) return Outcome::delivered;
        std::string why = a.status == 0 ? a.error : "HTTP " + std::to_string(a.status) + ": " + a.body.substr(0, 512);
        if (a.status == 0 || a.status == 408 || a.status >= 500) {
            host().counter_add("pyroscope_retries", 1);
            last_error_ = "pyroscope " + series + ": " + why;
            return Outcome::retry;
        }
        if (a.status == 429) {
            uint32_t n = ++attempts_[key];
            if (n < opts_.max_retries) {
                host().counter_add("pyroscope_retries", 1);
                last_error_ = "pyroscope " + series + ": " + why + " (attempt " + std::to_string(n) + ")";
                return Outcome::retry;
            }
            host().counter_add("pyroscope_dropped_after_retries", 1);
            host().warn(
                "pyroscope " + series + ": dropped after " + std::to_string(n) +
                " attempts answered 429 (a series larger than the receiver's ingestion burst is refused every time): " +
                why);
            return Outcome::dropped;
        }
        host().counter_add("pyroscope_rejected", 1);
        log_once("rejected " + series, "pyroscope " + series + ": rejected, not retried: " + why);
        return Outcome::dropped;
    }

    void log_once(const std::string &what, const std::string &msg) {
        if (logged_.size() < 1024 && logged_.insert(what).second) host().warn(msg);
    }

    Options opts_;
    HttpClient client_;
    std::vector<trib::relabel::PprofRule> sample_rules_;
    SeenSet seen_;
    std::unordered_map<std::string, uint32_t> attempts_;
    std::set<std::string> logged_;
    std::string last_error_;
};

} // namespace

TRIB_DEFINE_MODULE(PyroscopeSink, "pyroscope", "1.0.0", TRIB_KIND_SINK,
                   "Forwards profiles to Grafana Pyroscope (push API, /ingest for JFR)", pyroscope_sink_sample_conf)
