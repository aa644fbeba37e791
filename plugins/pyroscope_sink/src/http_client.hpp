// A small HTTP/1.1 client for the sink (Poco), one keep-alive connection reused between
// requests and reopened after any error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}

namespace trib::pyroscope_sink {

struct Endpoint {
    std::string host;
    uint16_t port = 80;
    std::string base_path; // without a trailing '/'
};

// "http://host[:port][/base]". Throws std::invalid_argument naming the problem (https is
// refused: put a TLS-terminating proxy beside the host, or use http inside the cluster).
Endpoint parse_endpoint(const std::string &url);

// "10s", "500ms", "2m", "1h" → milliseconds. Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(const std::string &text);

struct HttpAnswer {
    int status = 0;        // 0: no HTTP answer (connect failure, timeout); `error` says why
    std::string body;      // at most 64 KiB kept
    std::string error;
};

class HttpClient {
  public:
    HttpClient(Endpoint ep, std::chrono::milliseconds timeout);
    ~HttpClient();
    HttpAnswer post(const std::string &path_and_query, const std::string &content_type, const std::string &body,
                    const std::vector<std::pair<std::string, std::string>> &headers);
    const Endpoint &endpoint() const { return ep_; }

  private:
    HttpAnswer post_once(const std::string &path_and_query, const std::string &content_type, const std::string &body,
                         const std::vector<std::pair<std::string, std::string>> &headers);
    Endpoint ep_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

} // namespace trib::pyroscope_sink
