#include "http_server.hpp"

#include "host/log.hpp"

#include <tributary/plugin.hpp>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
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
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// The socket Poco serves a connection on: plain TCP, a Unix-socket client, or TLS through
// the SSL object the front handshook (reading first what the front already decrypted).
// Blocking calls; the receive/send timeouts Poco sets on the socket bound them.
class FrontSocketImpl final : public Poco::Net::StreamSocketImpl {
  public:
    FrontSocketImpl(int fd, bool unix_socket, std::unique_ptr<TlsConnection> tls)
        : Poco::Net::StreamSocketImpl(fd), unix_socket_(unix_socket), tls_(std::move(tls)) {}
    ~FrontSocketImpl() override {
        if (tls_) SSL_shutdown(tls_->ssl); // close_notify, best effort
    }

    bool unix_socket() const { return unix_socket_; }

    int sendBytes(const void *buffer, int length, int flags) override {
        if (!tls_) return Poco::Net::StreamSocketImpl::sendBytes(buffer, length, flags);
        ERR_clear_error();
        int n = SSL_write(tls_->ssl, buffer, length);
        if (n > 0) return n;
        fail("TLS write");
    }
    int receiveBytes(void *buffer, int length, int flags) override {
        if (!tls_) return Poco::Net::StreamSocketImpl::receiveBytes(buffer, length, flags);
        if (!tls_->early.empty()) {
            size_t n = std::min(tls_->early.size(), static_cast<size_t>(length));
            std::memcpy(buffer, tls_->early.data(), n);
            tls_->early.erase(0, n);
            return static_cast<int>(n);
        }
        ERR_clear_error();
        int n = SSL_read(tls_->ssl, buffer, length);
        if (n > 0) return n;
        int e = SSL_get_error(tls_->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) return 0; // peer closed
        fail("TLS read");
    }
    int available() override {
        if (!tls_) return Poco::Net::StreamSocketImpl::available();
        return static_cast<int>(tls_->early.size()) + SSL_pending(tls_->ssl);
    }
    bool poll(const Poco::Timespan &timeout, int mode) override {
        // Decrypted bytes waiting in user space do not make the socket readable.
        if (tls_ && (mode & SELECT_READ) && (!tls_->early.empty() || SSL_pending(tls_->ssl) > 0)) return true;
        // One poll(2) call: Poco's own makes an epoll instance per call (create, ctl, wait,
        // close), and it runs before every keep-alive request.
        pollfd p{};
        p.fd = sockfd();
        if (mode & SELECT_READ) p.events |= POLLIN;
        if (mode & SELECT_WRITE) p.events |= POLLOUT;
        if (mode & SELECT_ERROR) p.events |= POLLERR;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout.totalMicroseconds());
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            int rc = ::poll(&p, 1, int(std::max<int64_t>(0, left.count())));
            if (rc >= 0) return rc > 0;
            if (errno != EINTR) throw Poco::Net::NetException("poll failed");
        }
    }
    Poco::Net::SocketAddress peerAddress() override {
        // Unix-socket clients have no address; callers use unix_socket() instead.
        if (unix_socket_) return Poco::Net::SocketAddress();
        // Asked for every request (Poco's request object records it): one getpeername per connection.
        if (!peer_) peer_ = Poco::Net::StreamSocketImpl::peerAddress();
        return *peer_;
    }
    Poco::Net::SocketAddress address() override {
        if (unix_socket_) return Poco::Net::StreamSocketImpl::address();
        if (!local_) local_ = Poco::Net::StreamSocketImpl::address();
        return *local_;
    }
    bool secure() const override { return tls_ != nullptr; }

  private:
    [[noreturn]] void fail(const char *what) {
        int err = errno;
        ERR_clear_error();
        if (err == EAGAIN || err == EWOULDBLOCK) throw Poco::TimeoutException(what);
        throw Poco::Net::NetException(std::string(what) + " failed");
    }
    bool unix_socket_;
    std::unique_ptr<TlsConnection> tls_;
    std::optional<Poco::Net::SocketAddress> peer_, local_;
};

// Reads a header of the request (case-insensitive), empty when absent.
HeaderFn header_lookup(const Poco::Net::HTTPServerRequest &req) {
    return [&req](const char *name) { return req.get(name, ""); };
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

        bool unix_client = false;
        if (auto *impl =
                dynamic_cast<FrontSocketImpl *>(static_cast<Poco::Net::HTTPServerRequestImpl &>(req).socket().impl()))
            unix_client = impl->unix_socket();
        std::string remote = unix_client ? std::string("unix") : req.clientAddress().toString();
        std::string remote_ip = unix_client ? std::string() : req.clientAddress().host().toString();

        if (const AccessPolicy *admin = server_.admin_policy(); admin && is_admin_path(path)) {
            if (!admitted(*admin, req, resp, remote_ip)) return;
        }
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

        if (route->access && !admitted(*route->access, req, resp, remote_ip)) return;

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
                // Straight into the body: no copy, and no 64 KiB stack buffer whose pages each
                // of ~200 busy connection threads would keep resident (bench/ memory section).
                body.resize(static_cast<size_t>(len));
                in.read(body.data(), len);
                body.resize(static_cast<size_t>(in.gcount()));
            }
        }
        // Chunked bodies (and anything past an announced length) in pieces.
        char buf[16384];
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
            hdrs.push_back(
                trib_header{sizeof(trib_header), {h.first.data(), h.first.size()}, {h.second.data(), h.second.size()}});
        std::string content_type = req.get("Content-Type", "");

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

        // Bodies are read by every busy connection; the handlers' work (and the memory it
        // holds) runs for a bounded number at once. Slow bodies never hold a slot.
        HandlerSlots &slots = server_.handler_slots();
        if (!slots.acquire(std::chrono::steady_clock::now() + server_.handler_wait())) {
            stats.handler_wait_timeouts++;
            stats.status_5xx++;
            resp.set("Retry-After", "1");
            send_text(resp, 503,
                      "the host is busy (every handler slot, [http] max_active_handlers, stayed taken); retry later\n");
            return;
        }
        ResponseState st;
        {
            // Released before the answer is written: a client slow to read it holds no slot.
            struct SlotRelease {
                HandlerSlots &s;
                ~SlotRelease() { s.release(); }
            } slot_release{slots};
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
    static bool is_admin_path(const std::string &path) { return path == "/metrics" || path.rfind("/-/", 0) == 0; }

    // false after answering 403 or 401. The body is not read into memory: a little of it
    // is drained so the client can read the answer instead of a reset, then the connection
    // closes.
    bool admitted(const AccessPolicy &policy, Poco::Net::HTTPServerRequest &req, Poco::Net::HTTPServerResponse &resp,
                  const std::string &remote_ip) {
        AccessVerdict v = check_access(policy, header_lookup(req), remote_ip);
        if (v == AccessVerdict::allowed) return true;
        discard_rest(req.stream(), kMaxRefusedDrainBytes);
        resp.setKeepAlive(false);
        if (v == AccessVerdict::forbidden) {
            server_.mutable_stats().status_403++;
            send_text(resp, 403, "address " + remote_ip + " is not allowed here (allow_cidrs)\n");
        } else {
            server_.mutable_stats().status_401++;
            resp.set("WWW-Authenticate", "Bearer realm=\"tributary\"");
            send_text(resp, 401, "missing or invalid token (Authorization: Bearer/Basic or DD-API-KEY)\n");
        }
        return false;
    }
    static constexpr uint64_t kMaxRefusedDrainBytes = 1ull << 20;

    // A client that is still sending when we answer and close gets a TCP reset instead of
    // the 413 (seen with bodies of a few hundred KB). Reading and discarding the rest —
    // up to a bound, so a huge upload cannot hold the thread long — lets it read the answer.
    static constexpr uint64_t kMaxDiscardBytes = 64ull << 20;
    static void discard_rest(std::istream &in, uint64_t announced) {
        uint64_t budget = announced < kMaxDiscardBytes ? announced : kMaxDiscardBytes;
        char buf[16384]; // small: its pages stay resident in every connection thread that used it
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
        // The SDK's one mapping of a refusal (modules answer with it too): 413 or 429.
        trib::Refusal refusal = trib::refusal_of(st);
        int status = int(trib::http_status_of(refusal));
        if (status == 413) server_.mutable_stats().status_413++;
        if (status == 429) server_.mutable_stats().status_429++;
        if (trib::is_transient(refusal)) resp.set("Retry-After", "1");
        if (refusal == trib::Refusal::too_large) {
            send_text(resp, status,
                      "request body larger than the host's in-flight memory budget ([limits] inflight_memory_mb = " +
                          std::to_string(budget >> 20) + ")\n");
        } else {
            send_text(resp, status,
                      "the host's in-flight memory budget is spent ([limits] inflight_memory_mb = " +
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
    : host_(std::move(host)), port_(port), config_(config), budget_(budget), builtin_(std::move(builtin)),
      slots_(config.max_active_handlers ? config.max_active_handlers
                                        : std::max<size_t>(16, 4 * size_t(std::thread::hardware_concurrency()))) {}

HttpServer::~HttpServer() { stop(); }

namespace {

// A listening Unix socket at `path` (a stale socket file from an earlier run is replaced;
// any other file there is an error), with the configured mode and group.
int listen_unix_socket(const HttpListenerConfig &cfg) {
    const std::string &path = cfg.listen_unix;
    auto fail = [&](const std::string &why) -> int {
        throw std::runtime_error("cannot listen on unix socket " + path + " ([http] listen_unix): " + why);
    };
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path)
        fail("path longer than " + std::to_string(sizeof addr.sun_path - 1) + " bytes");
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) fail("a file that is not a socket is in the way");
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail(std::strerror(errno));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    // Created owner-only, then opened up to the configured mode: no moment where it is wider.
    mode_t old_mask = ::umask(0177);
    int rc = ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    int bind_errno = errno;
    ::umask(old_mask);
    if (rc != 0 || ::listen(fd, 1024) != 0) {
        ::close(fd);
        fail(std::strerror(rc != 0 ? bind_errno : errno));
    }
    if (!cfg.listen_unix_group.empty()) {
        struct group *g = ::getgrnam(cfg.listen_unix_group.c_str());
        if (!g || ::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
            ::close(fd);
            fail("cannot give it to group '" + cfg.listen_unix_group + "' ([http] listen_unix_group)");
        }
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(cfg.listen_unix_mode)) != 0) {
        ::close(fd);
        fail(std::string("chmod: ") + std::strerror(errno));
    }
    return fd;
}

} // namespace

void HttpServer::start() {
    std::vector<FrontListener> listeners;
    auto close_all = [&] {
        for (auto &l : listeners) ::close(l.fd);
    };
    if (config_.tls.enabled() && !host_.empty()) tls_ = std::make_unique<TlsServerContext>(config_.tls);
    if (!host_.empty()) {
        try {
            Poco::Net::SocketAddress addr(host_, port_);
            Poco::Net::ServerSocket socket;
            // SO_REUSEADDR (restart while old connections linger) but not SO_REUSEPORT: a second
            // host on the same port must fail, not share the traffic.
            socket.bind(addr, true, false);
            socket.listen(1024);
            port_ = socket.address().port();
            // The front owns its own descriptor of the socket; Poco's closes with `socket`.
            int listen_fd = ::fcntl(socket.impl()->sockfd(), F_DUPFD_CLOEXEC, 0);
            if (listen_fd < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
            ::fcntl(listen_fd, F_SETFL, ::fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
            listeners.push_back({listen_fd, tls_.get(), false});
        } catch (const Poco::Exception &e) {
            throw std::runtime_error("cannot listen on " + host_ + ":" + std::to_string(port_) + ": " +
                                     e.displayText());
        }
    }
    if (!config_.listen_unix.empty()) {
        try {
            listeners.push_back({listen_unix_socket(config_), nullptr, true});
        } catch (...) {
            close_all();
            throw;
        }
    }
    if (listeners.empty()) throw std::runtime_error("no listener: set `listen` or [http] listen_unix");
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited
    params->setKeepAliveTimeout(Poco::Timespan(config_.idle_timeout.count() * 1000));
    // Per receive: the header is already in the socket buffer, so this bounds body pauses.
    params->setTimeout(Poco::Timespan(config_.read_timeout.count() * 1000));
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory = new HandlerFactory(*this);
    ConnectionLimits limits{config_.max_connections, config_.header_timeout};
    front_ = std::make_unique<ConnectionFront>(std::move(listeners), limits, [params, factory](ServedConnection &c) {
        Poco::Net::StreamSocket socket(new FrontSocketImpl(c.fd, c.unix_socket, std::move(c.tls)));
        Poco::Net::HTTPServerConnection connection(socket, params, factory);
        connection.run();
    });
    front_->start();
}

bool HttpServer::reload_tls(const HttpTlsConfig &tls, std::string &err) {
    if (!tls_) {
        err = "TLS was not on when the listener started; switching it on needs a restart";
        return false;
    }
    if (!tls.enabled()) {
        err = "TLS cannot be switched off without a restart";
        return false;
    }
    if (!tls_->reload(tls, err)) return false;
    config_.tls = tls;
    return true;
}

void HttpServer::stop() {
    if (!front_) return;
    front_->stop();
    front_.reset();
    if (!config_.listen_unix.empty()) ::unlink(config_.listen_unix.c_str());
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

bool HandlerSlots::acquire(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lk(mu_);
    if (active_ < limit_) {
        ++active_;
        return true;
    }
    ++waiting_;
    bool got = cv_.wait_until(lk, deadline, [this] { return active_ < limit_; });
    --waiting_;
    if (got) ++active_;
    return got;
}

void HandlerSlots::release() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        --active_;
    }
    cv_.notify_one();
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
