#include "upstream_http.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#ifdef TRIB_UPSTREAM_HTTPS
#include <Poco/Net/HTTPSClientSession.h>
#endif
#include <Poco/DeflatingStream.h>
#include <Poco/InflatingStream.h>
#include <Poco/StreamCopier.h>
#include <Poco/Net/NetException.h>
#include <Poco/Timespan.h>

#include <unistd.h>

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

UpstreamUrl parse_upstream_url(std::string_view url) {
    UpstreamUrl u;
    size_t p = url.find("://");
    if (p == std::string_view::npos) throw std::invalid_argument("'" + std::string(url) + "' is not a URL (expected http://host:port)");
    u.scheme = std::string(url.substr(0, p));
    for (auto &c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (u.scheme != "http" && u.scheme != "https")
        throw std::invalid_argument("'" + std::string(url) + "': scheme must be http or https");
    if (u.scheme == "https" && !upstream_https_supported())
        throw std::invalid_argument("'" + std::string(url) + "': https needs a build linked with Poco NetSSL (TRIB_UPSTREAM_HTTPS)");
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
    if (authority.empty()) throw std::invalid_argument("'" + std::string(url) + "' has no host");
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) throw std::invalid_argument("'" + std::string(url) + "': unterminated IPv6 address");
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
        host = authority.substr(0, c);
        port = authority.substr(c + 1);
    }
    u.host = std::string(host);
    if (u.host.empty()) throw std::invalid_argument("'" + std::string(url) + "' has no host");
    if (port.empty()) {
        u.port = u.scheme == "https" ? 443 : 80;
    } else {
        unsigned v = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), v);
        if (r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 || v > 65535)
            throw std::invalid_argument("'" + std::string(url) + "': bad port '" + std::string(port) + "'");
        u.port = static_cast<uint16_t>(v);
    }
    return u;
}

std::chrono::milliseconds parse_duration(std::string_view text) {
    std::string t(text);
    size_t i = 0;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    if (i == 0) throw std::invalid_argument("'" + t + "' is not a duration (e.g. \"10s\", \"500ms\")");
    double v = 0;
    try {
        v = std::stod(t.substr(0, i));
    } catch (...) {
        throw std::invalid_argument("'" + t + "' is not a duration");
    }
    std::string unit = t.substr(i);
    double ms;
    if (unit.empty() || unit == "s") ms = v * 1000;
    else if (unit == "ms") ms = v;
    else if (unit == "us" || unit == "µs") ms = v / 1000;
    else if (unit == "m") ms = v * 60000;
    else if (unit == "h") ms = v * 3600000;
    else throw std::invalid_argument("'" + t + "': unknown duration unit '" + unit + "' (use ms, s, m or h)");
    return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

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

UpstreamHttpClient::UpstreamHttpClient(UpstreamUrl base, std::chrono::milliseconds timeout)
    : base_(std::move(base)), timeout_(timeout) {}

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
#ifdef TRIB_UPSTREAM_HTTPS
                if (base_.scheme == "https") session_ = std::make_unique<Poco::Net::HTTPSClientSession>(base_.host, base_.port);
                else
#endif
                    session_ = std::make_unique<Poco::Net::HTTPClientSession>(base_.host, base_.port);
                session_->setKeepAlive(true);
                session_->setTimeout(Poco::Timespan(static_cast<long>(timeout_.count() / 1000),
                                                    static_cast<long>((timeout_.count() % 1000) * 1000)));
            }
            Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, path_and_query, Poco::Net::HTTPMessage::HTTP_1_1);
            req.setKeepAlive(true);
            req.setContentType(content_type);
            req.setContentLength(static_cast<std::streamsize>(body.size()));
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

std::string gzip_compress(std::string_view in) {
    std::ostringstream out;
    {
        Poco::DeflatingOutputStream gz(out, Poco::DeflatingStreamBuf::STREAM_GZIP, Z_DEFAULT_COMPRESSION);
        gz.write(in.data(), static_cast<std::streamsize>(in.size()));
        gz.close();
    }
    return std::move(out).str();
}

std::string gzip_decompress(std::string_view in) {
    std::istringstream src{std::string(in)};
    Poco::InflatingInputStream gz(src, Poco::InflatingStreamBuf::STREAM_GZIP);
    std::string out;
    try {
        Poco::StreamCopier::copyToString(gz, out);
    } catch (const Poco::Exception &e) {
        throw std::runtime_error("gunzip: " + e.displayText());
    }
    return out;
}

namespace {
std::string quote_param(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        if (c == '\r' || c == '\n') continue;
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}
} // namespace

MultipartBody::MultipartBody(std::string boundary) : boundary_(std::move(boundary)) {
    if (boundary_.empty()) {
        std::random_device rd;
        static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
        boundary_ = "trib-";
        for (int i = 0; i < 30; ++i) boundary_.push_back(alnum[rd() % 36]);
    }
}

void MultipartBody::add_file(std::string_view field, std::string_view filename, std::string_view content_type,
                             std::string_view data) {
    body_ += "--" + boundary_ + "\r\n";
    body_ += "Content-Disposition: form-data; name=" + quote_param(field) + "; filename=" + quote_param(filename) + "\r\n";
    body_ += "Content-Type: ";
    body_ += content_type.empty() ? std::string_view("application/octet-stream") : content_type;
    body_ += "\r\n\r\n";
    body_.append(data.data(), data.size());
    body_ += "\r\n";
}

void MultipartBody::add_field(std::string_view field, std::string_view value) {
    body_ += "--" + boundary_ + "\r\n";
    body_ += "Content-Disposition: form-data; name=" + quote_param(field) + "\r\n\r\n";
    body_.append(value.data(), value.size());
    body_ += "\r\n";
}

std::string MultipartBody::finish() {
    body_ += "--" + boundary_ + "--\r\n";
    return std::move(body_);
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
    id[0] = t >> 24; id[1] = t >> 16; id[2] = t >> 8; id[3] = t;
    id[4] = machine >> 16; id[5] = machine >> 8; id[6] = machine;
    id[7] = pid >> 8; id[8] = pid;
    id[9] = c >> 16; id[10] = c >> 8; id[11] = c;
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
