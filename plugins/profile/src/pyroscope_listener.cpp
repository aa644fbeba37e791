#include "pyroscope_listener.hpp"

#include <tributary/profiling/pyroscope_ingest.hpp>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include <chrono>
#include <istream>
#include <thread>

namespace trib::profile {

namespace {

class IngestHandler : public Poco::Net::HTTPRequestHandler {
  public:
    IngestHandler(profiling::PyroscopeIngest &ingest, uint64_t limit, std::atomic<int> &in_flight)
        : ingest_(ingest), limit_(limit), in_flight_(in_flight) {}

    void handleRequest(Poco::Net::HTTPServerRequest &req, Poco::Net::HTTPServerResponse &resp) override {
        // stop() waits for this count to drop to zero, so no emit follows it.
        in_flight_.fetch_add(1);
        struct Done { std::atomic<int> &n; ~Done() { n.fetch_sub(1); } } done{in_flight_};
        Poco::URI uri(req.getURI());
        std::string path = uri.getPath();
        bool is_ingest = path == "/ingest";
        bool is_push = path == profiling::PyroscopeIngest::kPushPath;
        trib::HttpResponse out;
        if (req.getMethod() != "POST" || (!is_ingest && !is_push)) {
            out = trib::HttpResponse::text(404, "only POST /ingest and POST " + std::string(profiling::PyroscopeIngest::kPushPath) + " are served here\n");
        } else if (req.hasContentLength() && static_cast<uint64_t>(req.getContentLength64()) > limit_) {
            out = trib::HttpResponse::text(413, "body over body_size_limit_mb\n");
        } else {
            std::string body;
            bool too_big = false;
            std::istream &in = req.stream();
            char buf[65536];
            while (in) {
                in.read(buf, sizeof buf);
                body.append(buf, static_cast<size_t>(in.gcount()));
                if (body.size() > limit_) { too_big = true; break; }
            }
            if (too_big) out = trib::HttpResponse::text(413, "body over body_size_limit_mb\n");
            else out = dispatch(req, uri, body, is_push);
        }
        resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
        resp.setContentType(out.content_type);
        for (auto &[k, v] : out.headers) resp.set(k, v);
        resp.setContentLength(static_cast<std::streamsize>(out.body.size()));
        resp.send().write(out.body.data(), static_cast<std::streamsize>(out.body.size()));
    }

  private:
    trib::HttpResponse dispatch(Poco::Net::HTTPServerRequest &req, const Poco::URI &uri, const std::string &body,
                                bool is_push) {
        std::string method = req.getMethod(), path = uri.getPath(), query = uri.getRawQuery();
        std::string content_type = req.getContentType(), remote = req.clientAddress().toString();
        std::vector<std::pair<std::string, std::string>> header_copy;
        for (auto &h : req) header_copy.emplace_back(h.first, h.second);
        std::vector<trib_header> headers;
        headers.reserve(header_copy.size());
        for (auto &[k, v] : header_copy) headers.push_back(trib_header{sizeof(trib_header), trib::view(k), trib::view(v)});
        trib_http_request r{};
        r.struct_size = sizeof r;
        r.method = trib::view(method);
        r.path = trib::view(path);
        r.query = trib::view(query);
        r.content_type = trib::view(content_type);
        r.headers = headers.empty() ? nullptr : headers.data();
        r.header_count = headers.size();
        r.body = trib::bytes_view(body);
        r.remote_addr = trib::view(remote);
        trib::HttpRequest wrapped(r);
        try {
            return is_push ? ingest_.handle_push(wrapped) : ingest_.handle_ingest(wrapped);
        } catch (const std::exception &e) {
            return trib::HttpResponse::text(500, std::string("internal error: ") + e.what() + "\n");
        }
    }

    profiling::PyroscopeIngest &ingest_;
    uint64_t limit_;
    std::atomic<int> &in_flight_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Factory(profiling::PyroscopeIngest &ingest, uint64_t limit, std::atomic<int> &in_flight)
        : ingest_(ingest), limit_(limit), in_flight_(in_flight) {}
    Poco::Net::HTTPRequestHandler *createRequestHandler(const Poco::Net::HTTPServerRequest &) override {
        return new IngestHandler(ingest_, limit_, in_flight_);
    }

  private:
    profiling::PyroscopeIngest &ingest_;
    uint64_t limit_;
    std::atomic<int> &in_flight_;
};

// "0.0.0.0:4040", ":4040", "http://0.0.0.0:4040" → a socket address.
Poco::Net::SocketAddress listen_address(std::string url) {
    if (auto p = url.find("://"); p != std::string::npos) url = url.substr(p + 3);
    if (auto slash = url.find('/'); slash != std::string::npos) url.resize(slash);
    if (!url.empty() && url[0] == ':') url = "0.0.0.0" + url;
    return Poco::Net::SocketAddress(url);
}

} // namespace

PyroscopeListener::PyroscopeListener(trib::Host &host, const PyroscopeListenConfig &cfg, const ProfileConfig &parent)
    : body_limit_(parent.body_limit_bytes()) {
    profiling::PyroscopeOptions opts;
    opts.tags = parent.tags;
    for (auto &[k, v] : cfg.tags) opts.tags[k] = v;
    opts.service = cfg.service;
    opts.env = cfg.env;
    opts.version = cfg.version;
    opts.generate_metrics = parent.generate_metrics;
    opts.body_limit_bytes = parent.body_limit_bytes();
    ingest_ = std::make_unique<profiling::PyroscopeIngest>(host, std::move(opts));
    try {
        // No SO_REUSEPORT: a second listener on a taken port must fail, not share it.
        Poco::Net::ServerSocket socket;
        socket.bind(listen_address(cfg.url), true, false);
        socket.listen(64);
        auto *params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(8);
        params->setKeepAlive(true);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*ingest_, body_limit_, in_flight_), socket, params);
    } catch (const Poco::Exception &e) {
        throw std::runtime_error("inputs.profile.pyroscope: cannot listen on '" + cfg.url + "': " + e.displayText());
    }
}

PyroscopeListener::~PyroscopeListener() { stop(); }

void PyroscopeListener::start() { server_->start(); }

void PyroscopeListener::stop() {
    if (!server_) return;
    server_->stopAll(true);
    // Handlers already past accept may still be emitting; wait for them (bounded).
    for (int i = 0; i < 3000 && in_flight_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

uint16_t PyroscopeListener::port() const { return server_->port(); }

} // namespace trib::profile
