// HTTP client pieces the delivering sinks (influxdb, dataway) share: URL parsing, a
// keep-alive POST with a timeout, status classification, gzip and multipart bodies.
#pragma once

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
    std::string path;  // without query; "" or "/prefix"
    std::string query; // raw, without '?'
    // "scheme://host:port"
    std::string origin() const;
};

// Whether https:// upstreams work in this build (Poco NetSSL linked, TRIB_UPSTREAM_HTTPS).
bool upstream_https_supported();

// Throws std::invalid_argument with the reason for anything but http(s)://host[:port][/path][?query].
UpstreamUrl parse_upstream_url(std::string_view url);

// "75s", "500ms", "2m", "1h", "1.5s" or a bare number of seconds; throws std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view text);

// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
std::string url_encode(std::string_view s);

struct HttpPostResult {
    int status = 0;          // 0: no HTTP answer (connect/send/receive failed or timed out)
    std::string body;        // response body (first 64 KiB)
    std::string error;       // transport error text when status == 0
    std::vector<std::pair<std::string, std::string>> headers;
};

// What a delivering sink should do with an answer: 2xx OK; 408, 429 and 5xx and transport
// failures RETRY; any other status PERMANENT.
trib_status classify_http_result(const HttpPostResult &r);

// One keep-alive connection to one origin. Not thread-safe: a sink writes from one thread.
class UpstreamHttpClient {
  public:
    UpstreamHttpClient(UpstreamUrl base, std::chrono::milliseconds timeout);
    ~UpstreamHttpClient();
    UpstreamHttpClient(const UpstreamHttpClient &) = delete;
    UpstreamHttpClient &operator=(const UpstreamHttpClient &) = delete;

    HttpPostResult post(const std::string &path_and_query, const std::string &content_type,
                        const std::vector<std::pair<std::string, std::string>> &headers, std::string_view body);
    const UpstreamUrl &base() const { return base_; }

  private:
    UpstreamUrl base_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

std::string gzip_compress(std::string_view in);
std::string gzip_decompress(std::string_view in); // throws std::runtime_error

// A multipart/form-data body built part by part.
class MultipartBody {
  public:
    explicit MultipartBody(std::string boundary = {});
    void add_file(std::string_view field, std::string_view filename, std::string_view content_type, std::string_view data);
    void add_field(std::string_view field, std::string_view value);
    // Finishes the body (closing delimiter) and returns it.
    std::string finish();
    std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }
    const std::string &boundary() const { return boundary_; }

  private:
    std::string boundary_;
    std::string body_;
};

// 20 characters of base32hex like github.com/rs/xid (time, machine, pid, counter), as
// DataKit's X-Pkg-Id uses.
std::string new_xid();

} // namespace trib::core
