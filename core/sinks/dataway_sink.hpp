// The `dataway` sink: DataKit's upstream protocol (see shared/spec/dataway.md).
//
//   [[sinks]]
//   name = "dataway"
//   type = "dataway"
//   urls = ["https://openway.example.com?token=tkn_..."]  # or url = "..."; token only in the query
//   gzip = true                        # Content-Encoding: gzip on point writes
//   timeout = "30s"                    # per request (profile uploads: upload_timeout, "75s")
//   max_raw_body_kb = 1024             # bodies are cut at this size before gzip
//   enable_sinker = false              # send X-Global-Tags (DataKit's sinker)
//   global_customer_keys = []          # extra keys that take part in X-Global-Tags
//   datakit_version = "1.84.0"         # User-Agent and X-Datakit-Version
//   tls_ca = "/etc/ssl/dataway-ca.pem" # https: CAs to trust (default: the system's)
//   tls_cert = "..." / tls_key = "..." # https: client certificate (both or neither)
//   insecure_skip_verify = false       # https: no certificate check (logged loudly)
//
// Points go to POST <origin>/v1/write/<category>?<query> as line protocol, to every URL in
// turn. A profile point (category profiling with attachments) goes to POST
// <origin>/v1/upload/profiling?<query> of the first URL as multipart/form-data: part
// `event` (filename event.json) holding the point's event.json attachment byte for byte,
// then the other attachments as uploaded. The module writes event.json in its final form
// (plugin.h, ATTACHMENTS); a point without one is refused (PERMANENT), not guessed at.
#pragma once

#include "sinks/sink.hpp"
#include "spool/upstream_http.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace trib::core {

struct DatawaySinkConfig {
    std::vector<std::string> urls;
    bool gzip = true;
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds upload_timeout{75000};
    size_t max_raw_body_bytes = 1u << 20;
    bool enable_sinker = false;
    std::vector<std::string> global_customer_keys;
    std::string datakit_version = "1.84.0";
    UpstreamTls tls;

    // Reads a [[sinks]] table; throws std::invalid_argument naming the key and the reason.
    static DatawaySinkConfig from_json(const nlohmann::json &table);
};

class DatawaySink : public Sink {
  public:
    // global_tags: the host's global tags (for X-Global-Tags and the sinker keys).
    DatawaySink(std::string name, DatawaySinkConfig config,
                std::vector<std::pair<std::string, std::string>> global_tags);
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;

    // /v1/write/<...> path for a category ("metric" → "/v1/write/metric").
    static std::string write_path(const std::string &category);
    // DataKit's short category name (M, L, T, P...), empty when unknown.
    static std::string short_category(const std::string &category);
    // The X-Global-Tags value for one point (sinker rules, spec/dataway.md §6).
    std::string point_sinker_value(const trib::Point &p) const;
    // The endpoint-level X-Global-Tags value: global tags as k=v, sorted, joined by ','.
    std::string endpoint_sinker_value() const;

  private:
    struct Endpoint {
        UpstreamUrl url;
        std::unique_ptr<UpstreamHttpClient> http;
        std::unique_ptr<UpstreamHttpClient> upload_http;
    };
    trib_status write_points(const std::string &category, const std::vector<const trib::Point *> &points,
                             std::string &err);
    trib_status upload_profile(const trib::Point &p, std::string &err);
    std::vector<std::pair<std::string, std::string>> common_headers() const;

    std::string name_;
    DatawaySinkConfig cfg_;
    std::vector<std::pair<std::string, std::string>> global_tags_;
    std::set<std::string> sinker_keys_;
    std::vector<Endpoint> endpoints_;
    std::string user_agent_;
    std::shared_ptr<UpstreamTlsContext> tls_;
};

} // namespace trib::core
