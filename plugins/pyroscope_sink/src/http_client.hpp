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
    uint16_t port = 80;    // 443 for https
    std::string base_path; // without a trailing '/'
    bool https = false;
};

// "http[s]://host[:port][/base]". Throws std::invalid_argument naming the problem.
Endpoint parse_endpoint(const std::string &url);

// https: the sink's keys tls_ca (PEM CAs; default the system's), tls_cert + tls_key (a client
// certificate), insecure_skip_verify (no certificate or host name check). TLS 1.2 at least.
struct TlsOptions {
    std::string ca_file, cert_file, key_file;
    bool insecure_skip_verify = false;
};

struct HttpAnswer {
    int status = 0;   // 0: no HTTP answer (connect failure, timeout); `error` says why
    std::string body; // at most 64 KiB kept
    std::string error;
};

class HttpClient {
  public:
    // Throws std::invalid_argument when the TLS files cannot be used.
    HttpClient(Endpoint ep, std::chrono::milliseconds timeout, const TlsOptions &tls = {});
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
    std::shared_ptr<void> tls_context_; // Poco::Net::Context::Ptr, kept opaque here
};

} // namespace trib::pyroscope_sink
