#include "upstream_http.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#ifdef TRIB_UPSTREAM_HTTPS
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPSClientSession.h>
#endif
#include <Poco/Base64Encoder.h>
#include <Poco/Net/NetException.h>
#include <Poco/Timespan.h>

#include <nlohmann/json.hpp>
#include <tributary/config_map.hpp>

#include <unistd.h>

#include <fstream>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <istream>
#include <ostream>
#include <random>
#include <sstream>

namespace trib::core {

std::string UpstreamUrl::origin() const { return scheme + "://" + host + ":" + std::to_string(port); }

bool upstream_https_supported() {
#ifdef TRIB_UPSTREAM_HTTPS
    return true;
#else
    return false;
#endif
}

std::string redact_url(std::string_view url) {
    std::string out;
    size_t p = url.find("://");
    size_t start = p == std::string_view::npos ? 0 : p + 3;
    out.append(url.substr(0, start));
    std::string_view rest = url.substr(start);
    size_t end_auth = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end_auth);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
        out += "***@";
        authority = authority.substr(at + 1);
    }
    out.append(authority);
    if (end_auth == std::string_view::npos) return out;
    rest = rest.substr(end_auth);
    size_t q = rest.find('?');
    out.append(rest.substr(0, q));
    if (q == std::string_view::npos) return out;
    // Query values may be tokens (dataway ?token=, InfluxDB p=): keep only the names.
    std::string_view query = rest.substr(q + 1);
    out += '?';
    bool first = true;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        size_t eq = item.find('=');
        if (!first) out += '&';
        first = false;
        out.append(item.substr(0, eq));
        if (eq != std::string_view::npos) out += "=***";
        if (amp == std::string_view::npos) break;
        query = query.substr(amp + 1);
    }
    return out;
}

namespace {

std::string percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

} // namespace

UpstreamUrl parse_upstream_url(std::string_view url) {
    UpstreamUrl u;
    const std::string shown = redact_url(url);
    size_t p = url.find("://");
    if (p == std::string_view::npos)
        throw std::invalid_argument("'" + shown + "' is not a URL (expected http://host:port)");
    u.scheme = std::string(url.substr(0, p));
    for (auto &c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (u.scheme != "http" && u.scheme != "https")
        throw std::invalid_argument("'" + shown + "': scheme must be http or https");
    if (u.scheme == "https" && !upstream_https_supported())
        throw std::invalid_argument("'" + shown +
                                    "': https needs a build linked with Poco NetSSL (TRIB_UPSTREAM_HTTPS)");
    std::string_view rest = url.substr(p + 3);
    size_t q = rest.find('?');
    if (q != std::string_view::npos) {
        u.query = std::string(rest.substr(q + 1));
        rest = rest.substr(0, q);
    }
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
    while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
        u.userinfo = percent_decode(authority.substr(0, at));
        authority = authority.substr(at + 1);
    }
    if (authority.empty()) throw std::invalid_argument("'" + shown + "' has no host");
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) throw std::invalid_argument("'" + shown + "': unterminated IPv6 address");
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
        host = authority.substr(0, c);
        port = authority.substr(c + 1);
    }
    u.host = std::string(host);
    if (u.host.empty()) throw std::invalid_argument("'" + shown + "' has no host");
    if (port.empty()) {
        u.port = u.scheme == "https" ? 443 : 80;
    } else {
        unsigned v = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), v);
        if (r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 || v > 65535)
            throw std::invalid_argument("'" + shown + "': bad port '" + std::string(port) + "'");
        u.port = static_cast<uint16_t>(v);
    }
    return u;
}

std::chrono::milliseconds parse_duration(std::string_view text) { return trib::config::parse_duration(text); }

std::string url_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

trib_status classify_http_result(const HttpPostResult &r) {
    if (r.status == 0) return TRIB_RETRY;
    if (r.status >= 200 && r.status < 300) return TRIB_OK;
    if (r.status == 408 || r.status == 429 || r.status >= 500) return TRIB_RETRY;
    return TRIB_PERMANENT;
}

// ------------------------------------------------------------------ TLS

UpstreamTls read_upstream_tls(const nlohmann::json &t, const std::string &where) {
    UpstreamTls tls;
    if (!t.is_object()) return tls;
    auto file_key = [&](const char *key, std::string &out) {
        auto it = t.find(key);
        if (it == t.end() || it->is_null()) return;
        if (!it->is_string()) throw std::invalid_argument(where + ": key '" + key + "': expected a file path (string)");
        out = it->get<std::string>();
        if (out.empty()) return;
        std::ifstream f(out);
        if (!f)
            throw std::invalid_argument(where + ": key '" + key + "': cannot read " + out + ": " +
                                        std::strerror(errno));
    };
    file_key("tls_ca", tls.ca_file);
    file_key("tls_cert", tls.cert_file);
    file_key("tls_key", tls.key_file);
    if (tls.cert_file.empty() != tls.key_file.empty())
        throw std::invalid_argument(where + ": key '" + std::string(tls.cert_file.empty() ? "tls_key" : "tls_cert") +
                                    "': a client certificate needs both tls_cert and tls_key");
    if (auto it = t.find("insecure_skip_verify"); it != t.end() && !it->is_null()) {
        if (!it->is_boolean())
            throw std::invalid_argument(where + ": key 'insecure_skip_verify': expected true or false");
        tls.insecure_skip_verify = it->get<bool>();
    }
    return tls;
}

std::string insecure_skip_verify_warning(const std::string &who) {
    return "INSECURE: " + who +
           " has insecure_skip_verify = true: the upstream's TLS certificate and host name are "
           "NOT verified, so anyone on the network path can impersonate it and read or alter what is sent";
}

class UpstreamTlsContext {
  public:
#ifdef TRIB_UPSTREAM_HTTPS
    Poco::Net::Context::Ptr context;
#endif
};

std::shared_ptr<UpstreamTlsContext> make_upstream_tls_context(const UpstreamTls &tls) {
    auto out = std::make_shared<UpstreamTlsContext>();
#ifdef TRIB_UPSTREAM_HTTPS
    Poco::Net::Context::Params params;
    params.caLocation = tls.ca_file;
    params.certificateFile = tls.cert_file;
    params.privateKeyFile = tls.key_file;
    // No tls_ca: the system's trust store, like any https client.
    params.loadDefaultCAs = tls.ca_file.empty();
    params.verificationMode =
        tls.insecure_skip_verify ? Poco::Net::Context::VERIFY_NONE : Poco::Net::Context::VERIFY_RELAXED;
    try {
        out->context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        // TLS 1.2 at least: older versions are broken.
        out->context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                                       Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
    } catch (const Poco::Exception &e) {
        std::string files = tls.ca_file;
        if (!tls.cert_file.empty()) files += (files.empty() ? "" : ", ") + tls.cert_file + ", " + tls.key_file;
        throw std::invalid_argument("TLS setup failed (" + (files.empty() ? std::string("system CAs") : files) +
                                    "): " + e.displayText());
    }
#else
    (void)tls;
#endif
    return out;
}

std::unique_ptr<Poco::Net::HTTPClientSession> open_upstream_session(const std::string &scheme, const std::string &host,
                                                                    uint16_t port,
                                                                    const std::shared_ptr<UpstreamTlsContext> &tls) {
    if (scheme == "https") {
#ifdef TRIB_UPSTREAM_HTTPS
        auto ctx = tls ? tls : make_upstream_tls_context(UpstreamTls{});
        return std::make_unique<Poco::Net::HTTPSClientSession>(host, port, ctx->context);
#else
        (void)tls;
        throw std::runtime_error("https needs a build linked with Poco NetSSL (TRIB_UPSTREAM_HTTPS)");
#endif
    }
    return std::make_unique<Poco::Net::HTTPClientSession>(host, port);
}

UpstreamHttpClient::UpstreamHttpClient(UpstreamUrl base, std::chrono::milliseconds timeout,
                                       std::shared_ptr<UpstreamTlsContext> tls)
    : base_(std::move(base)), timeout_(timeout), tls_(std::move(tls)) {
    // Built now so a bad CA file is a config error at start, not a delivery failure later.
    if (base_.scheme == "https" && !tls_) tls_ = make_upstream_tls_context(UpstreamTls{});
}

UpstreamHttpClient::~UpstreamHttpClient() = default;

HttpPostResult UpstreamHttpClient::post(const std::string &path_and_query, const std::string &content_type,
                                        const std::vector<std::pair<std::string, std::string>> &headers,
                                        std::string_view body) {
    HttpPostResult res;
    // A kept-alive connection the server closed meanwhile fails on first use: one fresh retry.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = session_ != nullptr;
        try {
            if (!session_) {
                session_ = open_upstream_session(base_.scheme, base_.host, base_.port, tls_);
                session_->setKeepAlive(true);
                session_->setTimeout(Poco::Timespan(static_cast<long>(timeout_.count() / 1000),
                                                    static_cast<long>((timeout_.count() % 1000) * 1000)));
            }
            Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, path_and_query,
                                       Poco::Net::HTTPMessage::HTTP_1_1);
            req.setKeepAlive(true);
            req.setContentType(content_type);
            req.setContentLength(static_cast<std::streamsize>(body.size()));
            if (!base_.userinfo.empty()) {
                std::ostringstream b64;
                Poco::Base64Encoder enc(b64);
                enc.rdbuf()->setLineLength(0);
                enc << base_.userinfo;
                enc.close();
                req.set("Authorization", "Basic " + b64.str());
            }
            for (auto &[k, v] : headers) req.set(k, v);
            std::ostream &os = session_->sendRequest(req);
            os.write(body.data(), static_cast<std::streamsize>(body.size()));
            os.flush();
            Poco::Net::HTTPResponse resp;
            std::istream &is = session_->receiveResponse(resp);
            res.status = static_cast<int>(resp.getStatus());
            for (auto &h : resp) res.headers.emplace_back(h.first, h.second);
            char buf[8192];
            while (is && res.body.size() < (64u << 10)) {
                is.read(buf, sizeof buf);
                res.body.append(buf, static_cast<size_t>(is.gcount()));
            }
            // Drain the rest so the connection can be reused.
            while (is) is.read(buf, sizeof buf);
            if (!resp.getKeepAlive()) session_.reset();
            res.error.clear();
            return res;
        } catch (const Poco::Exception &e) {
            res.status = 0;
            res.error = e.displayText();
        } catch (const std::exception &e) {
            res.status = 0;
            res.error = e.what();
        }
        session_.reset();
        if (!reused) break;
    }
    if (res.error.empty()) res.error = "request failed";
    res.error = "POST " + base_.origin() + path_and_query.substr(0, path_and_query.find('?')) + ": " + res.error;
    return res;
}

std::string new_xid() {
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
    static std::atomic<uint32_t> counter{std::random_device{}()};
    static const uint32_t machine = [] {
        char host[256] = {0};
        ::gethostname(host, sizeof host - 1);
        uint32_t h = 2166136261u;
        for (char *p = host; *p; ++p) h = (h ^ static_cast<uint8_t>(*p)) * 16777619u;
        return h;
    }();
    uint8_t id[12];
    uint32_t t = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    uint16_t pid = static_cast<uint16_t>(::getpid());
    uint32_t c = counter.fetch_add(1);
    id[0] = t >> 24;
    id[1] = t >> 16;
    id[2] = t >> 8;
    id[3] = t;
    id[4] = machine >> 16;
    id[5] = machine >> 8;
    id[6] = machine;
    id[7] = pid >> 8;
    id[8] = pid;
    id[9] = c >> 16;
    id[10] = c >> 8;
    id[11] = c;
    // 96 bits as 20 base32hex digits, most significant first (xid's encoding).
    std::string out(20, '0');
    int bitpos = 0;
    for (int i = 0; i < 20; ++i) {
        uint32_t v = 0;
        for (int b = 0; b < 5; ++b) {
            int bit = bitpos + b;
            int bitval = bit < 96 ? (id[bit / 8] >> (7 - bit % 8)) & 1 : 0;
            v = (v << 1) | static_cast<uint32_t>(bitval);
        }
        bitpos += 5;
        out[i] = alphabet[v];
    }
    return out;
}

} // namespace trib::core
