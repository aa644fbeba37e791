// HTTP client pieces the delivering sinks (influxdb, dataway) and the etcd election share:
// URL parsing, TLS for https upstreams (CA file, client certificate, insecure_skip_verify),
// a keep-alive POST with a timeout, status classification (bodies: lib/compression and
// lib/multipart).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <tributary/plugin.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}

namespace trib::core {

struct UpstreamUrl {
    std::string scheme; // http or https
    std::string host;
    uint16_t port = 0;
    std::string path;     // without query; "" or "/prefix"
    std::string query;    // raw, without '?'
    std::string userinfo; // "user:password" before '@', percent-decoded; sent as Basic auth, never logged
    // "scheme://host:port" (no userinfo, no query: safe to log)
    std::string origin() const;
};

// The URL as it may appear in logs and errors: userinfo and query values replaced by "***".
std::string redact_url(std::string_view url);

// TLS settings of an https upstream: `tls_ca` (PEM file of the CAs to trust; empty: the
// system's), `tls_cert` + `tls_key` (client certificate, PEM), `insecure_skip_verify`.
struct UpstreamTls {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool insecure_skip_verify = false;
};

// Reads the keys above from a config table; throws std::invalid_argument
// "<where>: key '<k>': <reason>" (wrong type, tls_cert without tls_key, unreadable file).
UpstreamTls read_upstream_tls(const nlohmann::json &table, const std::string &where);

// A client TLS context built once from UpstreamTls and shared by sessions. Opaque here so
// users need no Poco NetSSL headers.
class UpstreamTlsContext;
// Throws std::invalid_argument naming the file OpenSSL could not use.
std::shared_ptr<UpstreamTlsContext> make_upstream_tls_context(const UpstreamTls &tls);
// A session to host:port: HTTPS with `tls` when scheme is "https" (tls null: system CAs,
// verified), plain HTTP otherwise.
std::unique_ptr<Poco::Net::HTTPClientSession> open_upstream_session(const std::string &scheme, const std::string &host,
                                                                    uint16_t port,
                                                                    const std::shared_ptr<UpstreamTlsContext> &tls);
// The loud line logged at start for insecure_skip_verify = true.
std::string insecure_skip_verify_warning(const std::string &who);

// Whether https:// upstreams work in this build (Poco NetSSL linked, TRIB_UPSTREAM_HTTPS).
bool upstream_https_supported();

// Throws std::invalid_argument with the reason for anything but http(s)://host[:port][/path][?query].
UpstreamUrl parse_upstream_url(std::string_view url);

// "75s", "1m30s", "500ms", "1.5s" or a bare number of seconds; throws std::invalid_argument.
// The SDK's one rule (tributary/config_map.hpp), kept here for core's json_fwd-only headers.
std::chrono::milliseconds parse_duration(std::string_view text);

// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
std::string url_encode(std::string_view s);

struct HttpPostResult {
    int status = 0;    // 0: no HTTP answer (connect/send/receive failed or timed out)
    std::string body;  // response body (first 64 KiB)
    std::string error; // transport error text when status == 0
    std::vector<std::pair<std::string, std::string>> headers;
};

// What a delivering sink should do with an answer: 2xx OK; 408, 429 and 5xx and transport
// failures RETRY; any other status PERMANENT.
trib_status classify_http_result(const HttpPostResult &r);

// One keep-alive connection to one origin. Not thread-safe: a sink writes from one thread.
class UpstreamHttpClient {
  public:
    // tls: used for https; null = the system's CAs, verified.
    UpstreamHttpClient(UpstreamUrl base, std::chrono::milliseconds timeout,
                       std::shared_ptr<UpstreamTlsContext> tls = nullptr);
    ~UpstreamHttpClient();
    UpstreamHttpClient(const UpstreamHttpClient &) = delete;
    UpstreamHttpClient &operator=(const UpstreamHttpClient &) = delete;

    HttpPostResult post(const std::string &path_and_query, const std::string &content_type,
                        const std::vector<std::pair<std::string, std::string>> &headers, std::string_view body);
    const UpstreamUrl &base() const { return base_; }

  private:
    UpstreamUrl base_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<UpstreamTlsContext> tls_;
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

// 20 characters of base32hex like github.com/rs/xid (time, machine, pid, counter), as
// DataKit's X-Pkg-Id uses.
std::string new_xid();

} // namespace trib::core
