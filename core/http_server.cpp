#include "http_server.hpp"

#include "log.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace trib::core {

namespace {

// What a handler answered through trib_http_response::respond.
struct ResponseState {
    bool responded = false;
    uint32_t status = 500;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

void respond_fn(trib_http_response *self, uint32_t status, trib_str content_type, const trib_header *headers,
                size_t header_count, trib_bytes body) {
    auto *st = static_cast<ResponseState *>(self->host_private);
    st->responded = true;
    st->status = status;
    st->content_type.assign(content_type.ptr ? content_type.ptr : "", content_type.ptr ? content_type.len : 0);
    st->headers.clear();
    if (headers)
        for (size_t i = 0; i < header_count; ++i) {
            const trib_header *h = TRIB_AT(trib_header, headers, i);
            st->headers.emplace_back(std::string(h->name.ptr ? h->name.ptr : "", h->name.ptr ? h->name.len : 0),
                                     std::string(h->value.ptr ? h->value.ptr : "", h->value.ptr ? h->value.len : 0));
        }
    st->body.assign(body.ptr ? reinterpret_cast<const char *>(body.ptr) : "", body.ptr ? body.len : 0);
}

bool iequals(const std::string &a, const char *b) {
    size_t n = std::strlen(b);
    if (a.size() != n) return false;
    for (size_t i = 0; i < n; ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    explicit RequestHandler(HttpServer &server) : server_(server) {}

    void handleRequest(Poco::Net::HTTPServerRequest &req, Poco::Net::HTTPServerResponse &resp) override {
        auto &stats = server_.mutable_stats();
        stats.requests++;
        const std::string &uri = req.getURI();
        size_t q = uri.find('?');
        std::string path = uri.substr(0, q);
        std::string query = q == std::string::npos ? std::string() : uri.substr(q + 1);
        const std::string &method = req.getMethod();

        if (auto b = server_.builtin()(method, path)) {
            send(resp, b->status, b->content_type, {}, b->body);
            return;
        }
        bool path_known = false;
        std::string allowed;
        auto route = server_.find(method, path, path_known, allowed);
        if (!route) {
            if (path_known) {
                resp.set("Allow", allowed);
                send_text(resp, 405, "method " + method + " not allowed on " + path + "\n");
            } else {
                stats.status_404++;
                send_text(resp, 404, "no route for " + path + "\n");
            }
            return;
        }

        uint64_t limit = route->max_body_bytes ? route->max_body_bytes : server_.default_max_body();
        // The body is counted against the host-wide budget for as long as it is held.
        MemoryReservation reserved(server_.budget());
        std::string body;
        std::istream &in = req.stream();
        if (req.hasContentLength()) {
            auto len = req.getContentLength64();
            if (len > 0 && static_cast<uint64_t>(len) > limit) {
                discard_rest(in, static_cast<uint64_t>(len));
                too_large(resp, limit);
                return;
            }
            if (len > 0) {
                if (!reserve(reserved, static_cast<uint64_t>(len), in, static_cast<uint64_t>(len), resp)) return;
                body.reserve(static_cast<size_t>(len));
            }
        }
        char buf[65536];
        while (in) {
            in.read(buf, sizeof buf);
            std::streamsize n = in.gcount();
            if (n <= 0) break;
            if (body.size() + static_cast<uint64_t>(n) > limit) {
                discard_rest(in, kMaxDiscardBytes);
                too_large(resp, limit);
                return;
            }
            // Chunked (or longer than announced): reserve as it grows, a step at a time.
            uint64_t needed = body.size() + static_cast<uint64_t>(n);
            if (needed > reserved.bytes()) {
                // needed <= limit (checked above), so the step never passes the route's limit.
                uint64_t step = std::min(std::max(needed - reserved.bytes(), kReserveStep), limit - reserved.bytes());
                if (!reserve(reserved, step, in, kMaxDiscardBytes, resp)) return;
            }
            body.append(buf, static_cast<size_t>(n));
        }
        stats.body_bytes += body.size();

        std::vector<std::pair<std::string, std::string>> hdr_store(req.begin(), req.end());
        std::vector<trib_header> hdrs;
        hdrs.reserve(hdr_store.size());
        for (auto &h : hdr_store)
            hdrs.push_back(trib_header{sizeof(trib_header), {h.first.data(), h.first.size()}, {h.second.data(), h.second.size()}});
        std::string content_type = req.get("Content-Type", "");
        std::string remote = req.clientAddress().toString();

        trib_http_request creq{};
        creq.struct_size = sizeof creq;
        creq.method = {method.data(), method.size()};
        creq.path = {path.data(), path.size()};
        creq.query = {query.data(), query.size()};
        creq.content_type = {content_type.data(), content_type.size()};
        creq.headers = hdrs.empty() ? nullptr : hdrs.data();
        creq.header_count = hdrs.size();
        creq.body = {reinterpret_cast<const uint8_t *>(body.data()), body.size()};
        creq.remote_addr = {remote.data(), remote.size()};

        ResponseState st;
        trib_http_response cresp{};
        cresp.struct_size = sizeof cresp;
        cresp.respond = &respond_fn;
        cresp.host_private = &st;
        try {
            route->handler(route->user, &creq, &cresp);
        } catch (...) {
            st = ResponseState{};
            st.responded = true;
            st.status = 500;
            st.body = "handler failed\n";
        }
        if (!st.responded) {
            st.status = 500;
            st.content_type = "text/plain; charset=utf-8";
            st.body = "handler gave no response\n";
        }
        if (st.status == 429) stats.status_429++;
        if (st.status >= 500) stats.status_5xx++;
        send(resp, static_cast<int>(st.status), st.content_type, st.headers, st.body);
    }

  private:
    // A client that is still sending when we answer and close gets a TCP reset instead of
    // the 413 (seen with bodies of a few hundred KB). Reading and discarding the rest —
    // up to a bound, so a huge upload cannot hold the thread long — lets it read the answer.
    static constexpr uint64_t kMaxDiscardBytes = 64ull << 20;
    static void discard_rest(std::istream &in, uint64_t announced) {
        uint64_t budget = announced < kMaxDiscardBytes ? announced : kMaxDiscardBytes;
        char buf[65536];
        try {
            while (budget > 0 && in) {
                in.read(buf, static_cast<std::streamsize>(budget < sizeof buf ? budget : sizeof buf));
                std::streamsize n = in.gcount();
                if (n <= 0) break;
                budget -= static_cast<uint64_t>(n);
            }
        } catch (...) {
            // The client went away: nothing to answer.
        }
    }
    // Chunked bodies reserve in steps of this much, not per read.
    static constexpr uint64_t kReserveStep = 1ull << 20;

    // Grows the body's reservation; false after answering 429 (budget spent for now) or
    // 413 (the body alone is larger than the whole budget).
    bool reserve(MemoryReservation &reserved, uint64_t bytes, std::istream &in, uint64_t unread,
                 Poco::Net::HTTPServerResponse &resp) {
        trib_status st = reserved.grow(bytes);
        if (st == TRIB_OK) return true;
        reserved.reset();
        discard_rest(in, unread);
        resp.setKeepAlive(false);
        uint64_t budget = server_.budget() ? server_.budget()->limit() : 0;
        if (st == TRIB_INVALID_ARGUMENT) {
            server_.mutable_stats().status_413++;
            send_text(resp, 413, "request body larger than the host's in-flight memory budget ([limits] inflight_memory_mb = " +
                                     std::to_string(budget >> 20) + ")\n");
        } else {
            server_.mutable_stats().status_429++;
            resp.set("Retry-After", "1");
            send_text(resp, 429, "the host's in-flight memory budget is spent ([limits] inflight_memory_mb = " +
                                     std::to_string(budget >> 20) + "); retry later\n");
        }
        return false;
    }
    void too_large(Poco::Net::HTTPServerResponse &resp, uint64_t limit) {
        server_.mutable_stats().status_413++;
        // The rest of the body is not read, so the connection cannot be reused.
        resp.setKeepAlive(false);
        send_text(resp, 413, "request body larger than " + std::to_string(limit) + " bytes\n");
    }
    static void send_text(Poco::Net::HTTPServerResponse &resp, int status, const std::string &text) {
        send(resp, status, "text/plain; charset=utf-8", {}, text);
    }
    static void send(Poco::Net::HTTPServerResponse &resp, int status, const std::string &content_type,
                     const std::vector<std::pair<std::string, std::string>> &headers, const std::string &body) {
        resp.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
        if (!content_type.empty()) resp.setContentType(content_type);
        for (auto &h : headers) {
            if (iequals(h.first, "Content-Length") || iequals(h.first, "Transfer-Encoding") ||
                iequals(h.first, "Connection"))
                continue;
            if (iequals(h.first, "Content-Type")) resp.setContentType(h.second);
            else resp.add(h.first, h.second);
        }
        resp.sendBuffer(body.data(), body.size());
    }

    HttpServer &server_;
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit HandlerFactory(HttpServer &s) : server_(s) {}
    Poco::Net::HTTPRequestHandler *createRequestHandler(const Poco::Net::HTTPServerRequest &) override {
        return new RequestHandler(server_);
    }

  private:
    HttpServer &server_;
};

} // namespace

HttpServer::HttpServer(std::string host, uint16_t port, HttpListenerConfig config, MemoryBudget *budget,
                       BuiltinHandler builtin)
    : host_(std::move(host)), port_(port), config_(config), budget_(budget), builtin_(std::move(builtin)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    int listen_fd = -1;
    try {
        Poco::Net::SocketAddress addr(host_, port_);
        Poco::Net::ServerSocket socket;
        // SO_REUSEADDR (restart while old connections linger) but not SO_REUSEPORT: a second
        // host on the same port must fail, not share the traffic.
        socket.bind(addr, true, false);
        socket.listen(1024);
        port_ = socket.address().port();
        // The front owns its own descriptor of the socket; Poco's closes with `socket`.
        listen_fd = ::fcntl(socket.impl()->sockfd(), F_DUPFD_CLOEXEC, 0);
        if (listen_fd < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
        ::fcntl(listen_fd, F_SETFL, ::fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    } catch (const Poco::Exception &e) {
        throw std::runtime_error("cannot listen on " + host_ + ":" + std::to_string(port_) + ": " + e.displayText());
    }
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited
    params->setKeepAliveTimeout(Poco::Timespan(config_.idle_timeout.count() * 1000));
    // Per receive: the header is already in the socket buffer, so this bounds body pauses.
    params->setTimeout(Poco::Timespan(config_.read_timeout.count() * 1000));
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory = new HandlerFactory(*this);
    ConnectionLimits limits{config_.max_connections, config_.header_timeout};
    front_ = std::make_unique<ConnectionFront>(listen_fd, limits, [params, factory](int fd) {
        Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));
        Poco::Net::HTTPServerConnection connection(socket, params, factory);
        connection.run();
    });
    front_->start();
}

void HttpServer::stop() {
    if (!front_) return;
    front_->stop();
    front_.reset();
}

bool HttpServer::add_route(const Route &route, std::string &err) {
    if (route.path.empty() || route.path[0] != '/') {
        err = "route path must start with '/': '" + route.path + "'";
        return false;
    }
    if (!route.handler) {
        err = "route " + route.path + " has no handler";
        return false;
    }
    if (route.path == "/health" || route.path == "/metrics") {
        err = "route " + route.path + " is the host's own";
        return false;
    }
    if (route.prefix && route.path.back() != '/') {
        err = "prefix route " + route.path + " must end in '/'";
        return false;
    }
    std::unique_lock<std::shared_mutex> lk(mu_);
    auto &list = (route.prefix ? prefix_routes_ : routes_)[route.path];
    for (auto &r : list)
        if (r->method.empty() || route.method.empty() || r->method == route.method) {
            err = std::string(route.prefix ? "prefix route " : "route ") +
                  (route.method.empty() ? std::string("*") : route.method) + " " + route.path +
                  " is already registered by " + r->owner;
            return false;
        }
    list.push_back(std::make_shared<const Route>(route));
    return true;
}

void HttpServer::remove_routes(const std::string &owner) {
    std::vector<std::shared_ptr<const Route>> removed;
    {
        std::unique_lock<std::shared_mutex> lk(mu_);
        for (auto *table : {&routes_, &prefix_routes_})
            for (auto it = table->begin(); it != table->end();) {
                auto &list = it->second;
                for (auto r = list.begin(); r != list.end();) {
                    if ((*r)->owner == owner) {
                        removed.push_back(*r);
                        r = list.erase(r);
                    } else {
                        ++r;
                    }
                }
                it = list.empty() ? table->erase(it) : std::next(it);
            }
    }
    // A running handler holds its route; wait for those to finish (bounded).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (auto &r : removed)
        while (r.use_count() > 1 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::shared_ptr<const Route> HttpServer::find(const std::string &method, const std::string &path, bool &path_known,
                                              std::string &allowed) const {
    std::shared_lock<std::shared_mutex> lk(mu_);
    const std::vector<std::shared_ptr<const Route>> *list = nullptr;
    if (auto it = routes_.find(path); it != routes_.end()) {
        list = &it->second;
    } else {
        // Few prefixes are registered; the longest one the path starts with answers.
        size_t best = 0;
        for (auto &[prefix, routes] : prefix_routes_)
            if (prefix.size() > best && path.compare(0, prefix.size(), prefix) == 0) {
                best = prefix.size();
                list = &routes;
            }
    }
    path_known = list != nullptr;
    if (!path_known) return nullptr;
    for (auto &r : *list) {
        if (r->method.empty() || r->method == method) return r;
        allowed += (allowed.empty() ? "" : ", ") + r->method;
    }
    return nullptr;
}

bool route_from_abi(const trib_http_route &in, Route &out, std::string &err) {
    if (!TRIB_HAS_FIELD(trib_http_route, &in, user)) {
        err = "route struct too small";
        return false;
    }
    out.method = std::string(in.method.ptr ? in.method.ptr : "", in.method.len);
    out.path = std::string(in.path.ptr ? in.path.ptr : "", in.path.len);
    out.max_body_bytes = in.max_body_bytes;
    out.handler = in.handler;
    out.user = in.user;
    uint32_t flags = TRIB_HAS_FIELD(trib_http_route, &in, flags) ? in.flags : 0;
    if (flags & ~TRIB_ROUTE_PATH_PREFIX) {
        err = "route " + out.path + " has unknown flags " + std::to_string(flags);
        return false;
    }
    out.prefix = (flags & TRIB_ROUTE_PATH_PREFIX) != 0;
    return true;
}

} // namespace trib::core
