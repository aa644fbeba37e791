#include "http_client.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Timespan.h>

#include <cctype>
#include <charconv>
#include <istream>
#include <ostream>
#include <stdexcept>

namespace trib::pyroscope_sink {

Endpoint parse_endpoint(const std::string &url) {
    auto p = url.find("://");
    if (p == std::string::npos) throw std::invalid_argument("'" + url + "' is not a URL (expected http://host:port)");
    std::string scheme = url.substr(0, p);
    for (auto &c : scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "http" && scheme != "https")
        throw std::invalid_argument("'" + url + "': scheme must be http or https");
    std::string rest = url.substr(p + 3);
    Endpoint ep;
    ep.https = scheme == "https";
    if (ep.https) ep.port = 443;
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) ep.base_path = rest.substr(slash);
    while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
    std::string port;
    if (!authority.empty() && authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos) throw std::invalid_argument("'" + url + "': unterminated IPv6 address");
        ep.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else if (auto c = authority.rfind(':'); c != std::string::npos) {
        ep.host = authority.substr(0, c);
        port = authority.substr(c + 1);
    } else {
        ep.host = authority;
    }
    if (ep.host.empty()) throw std::invalid_argument("'" + url + "' has no host");
    if (!port.empty()) {
        unsigned v = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), v);
        if (r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 || v > 65535)
            throw std::invalid_argument("'" + url + "': bad port '" + port + "'");
        ep.port = uint16_t(v);
    }
    return ep;
}

HttpClient::HttpClient(Endpoint ep, std::chrono::milliseconds timeout, const TlsOptions &tls)
    : ep_(std::move(ep)), timeout_(timeout) {
    if (!ep_.https) return;
    Poco::Net::Context::Params params;
    params.caLocation = tls.ca_file;
    params.certificateFile = tls.cert_file;
    params.privateKeyFile = tls.key_file;
    params.loadDefaultCAs = tls.ca_file.empty(); // no tls_ca: the system's trust store
    params.verificationMode =
        tls.insecure_skip_verify ? Poco::Net::Context::VERIFY_NONE : Poco::Net::Context::VERIFY_RELAXED;
    try {
        Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        ctx->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                              Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
        tls_context_ = std::make_shared<Poco::Net::Context::Ptr>(ctx);
    } catch (const Poco::Exception &e) {
        throw std::invalid_argument("TLS setup failed: " + e.displayText());
    }
}
HttpClient::~HttpClient() = default;

HttpAnswer HttpClient::post(const std::string &path_and_query, const std::string &content_type, const std::string &body,
                            const std::vector<std::pair<std::string, std::string>> &headers) {
    // A kept-alive connection the server has closed meanwhile fails at once: one more try on
    // a fresh connection before the caller sees a failure.
    bool reused = session_ != nullptr;
    HttpAnswer a = post_once(path_and_query, content_type, body, headers);
    if (a.status == 0 && reused) a = post_once(path_and_query, content_type, body, headers);
    return a;
}

HttpAnswer HttpClient::post_once(const std::string &path_and_query, const std::string &content_type,
                                 const std::string &body,
                                 const std::vector<std::pair<std::string, std::string>> &headers) {
    HttpAnswer a;
    try {
        if (!session_) {
            if (ep_.https)
                session_ = std::make_unique<Poco::Net::HTTPSClientSession>(
                    ep_.host, ep_.port, *std::static_pointer_cast<Poco::Net::Context::Ptr>(tls_context_));
            else session_ = std::make_unique<Poco::Net::HTTPClientSession>(ep_.host, ep_.port);
            session_->setKeepAlive(true);
        }
        session_->setTimeout(Poco::Timespan(Poco::Timespan::TimeDiff(timeout_.count()) * 1000));
        Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, ep_.base_path + path_and_query,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
        req.setContentType(content_type);
        req.setContentLength(std::streamsize(body.size()));
        req.setKeepAlive(true);
        for (auto &[k, v] : headers) req.set(k, v);
        std::ostream &os = session_->sendRequest(req);
        os.write(body.data(), std::streamsize(body.size()));
        Poco::Net::HTTPResponse resp;
        std::istream &is = session_->receiveResponse(resp);
        a.status = int(resp.getStatus());
        char buf[8192];
        while (is.read(buf, sizeof buf) || is.gcount() > 0) {
            if (a.body.size() < (64u << 10)) a.body.append(buf, size_t(is.gcount()));
        }
        if (!resp.getKeepAlive()) session_.reset();
    } catch (const Poco::Exception &e) {
        a.status = 0;
        a.error = e.displayText();
        session_.reset();
    } catch (const std::exception &e) {
        a.status = 0;
        a.error = e.what();
        session_.reset();
    }
    return a;
}

} // namespace trib::pyroscope_sink
