// The `influxdb` sink: InfluxDB 1.x HTTP /write with line protocol.
//
//   [[sinks]]
//   name = "influx"
//   type = "influxdb"
//   url = "http://127.0.0.1:8086"      # may carry a path prefix (behind a proxy)
//   database = "tributary"             # required
//   retention_policy = ""              # rp=
//   precision = "ns"                   # ns | us | ms | s: timestamps are converted
//   username = "" / password = ""      # u= / p=  (or)  token = "..." → Authorization: Token
//   timeout = "10s"
//   create_database = true             # CREATE DATABASE once if InfluxDB says it is missing
//   max_body_kb = 4096                 # a batch is split into bodies of at most this size
//   tls_ca / tls_cert / tls_key / insecure_skip_verify   # for an https url (as the dataway sink)
//
// Profile points are written with their tags and fields; their attachments are not
// (they stay in the file sink's store, referenced by the point's profile_id field).
// Unsigned fields are written as integers (as floats above INT64_MAX): InfluxDB 1.x
// refuses the `u` suffix.
#pragma once

#include "sinks/sink.hpp"
#include "spool/upstream_http.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace trib::core {

struct InfluxDbSinkConfig {
    std::string url = "http://127.0.0.1:8086";
    std::string database;
    std::string retention_policy;
    std::string precision = "ns";
    std::string username, password, token;
    std::chrono::milliseconds timeout{10000};
    bool create_database = true;
    size_t max_body_bytes = 4u << 20;
    UpstreamTls tls;

    // Reads a [[sinks]] table; throws std::invalid_argument naming the key and the reason.
    static InfluxDbSinkConfig from_json(const nlohmann::json &table);
};

class InfluxDbSink : public Sink {
  public:
    InfluxDbSink(std::string name, InfluxDbSinkConfig config);
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override;

    // The body a batch becomes (one or more /write requests), for tests and diagnostics.
    std::vector<std::string> encode(const std::vector<trib::Point> &batch) const;
    const InfluxDbSinkConfig &config() const { return cfg_; }

  private:
    trib_status post_body(const std::string &body, std::string &err, bool may_create);
    bool create_database(std::string &err);

    std::string name_;
    InfluxDbSinkConfig cfg_;
    UpstreamUrl base_;
    std::string write_path_;
    int64_t time_divisor_ = 1;
    std::unique_ptr<UpstreamHttpClient> http_;
};

} // namespace trib::core
