#include "pyroscope_listener.hpp"

#include <tributary/profiling/pyroscope_ingest.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace trib::profile {

using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxHeaders = 100;
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kWorkers = 4;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) { return trib::HttpRequest::iequals(a, b); }

// True when a comma-separated header value lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
    size_t pos = 0;
    while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string_view::npos) comma = value.size();
        if (iequals(trim(value.substr(pos, comma - pos)), token)) return true;
        pos = comma + 1;
    }
    return false;
}

const char *reason(uint32_t status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

// "0.0.0.0:4040", ":4040", "http://0.0.0.0:4040" → host and port.
std::pair<std::string, std::string> split_listen_url(std::string url) {
    if (auto p = url.find("://"); p != std::string::npos) url = url.substr(p + 3);
    if (auto slash = url.find('/'); slash != std::string::npos) url.resize(slash);
    auto colon = url.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("no port in the listen address");
    std::string host = url.substr(0, colon), port = url.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "0.0.0.0";
    return {host, port};
}

// Hex chunk size of a chunked body line ("1a2;ext"); false when malformed or too large.
bool chunk_size(std::string_view line, uint64_t &out) {
    line = trim(line.substr(0, line.find(';')));
    if (line.empty() || line.size() > 15) return false;
    out = 0;
    for (char c : line) {
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0) return false;
        out = out * 16 + uint64_t(v);
    }
    return true;
}

} // namespace

struct PyroscopeListener::Request {
    int fd = -1;
    uint64_t generation = 0;
    std::string method, path, query, remote;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    trib::MemoryReservation held; // the body's share of the host budget
    bool keep_alive = true;
    trib::HttpResponse response;
};

struct PyroscopeListener::Connection {
    // draining: answered with Connection: close, write side shut; what the client still
    // sends is read and dropped until it closes, so it reads the answer instead of a reset.
    enum class State { headers, body, busy, writing, draining };
    int fd = -1;
    uint64_t generation = 0;
    std::string remote;
    State state = State::headers;
    Clock::time_point deadline;
    std::string in;  // bytes read and not yet consumed
    std::string out; // bytes to send
    size_t out_pos = 0;
    bool close_after = false;
    bool want_write = false;
    std::unique_ptr<Request> request; // being read
    uint64_t content_length = 0;
    bool chunked = false;
    uint64_t chunk_left = 0; // data bytes of the current chunk still to come
    bool chunk_crlf = false; // the CRLF after a chunk's data is still to come
};

PyroscopeListener::PyroscopeListener(trib::Host &host, const PyroscopeListenConfig &cfg, const ProfileConfig &parent,
                                     profiling::MetricsPool *metrics_pool)
    : host_(host), cfg_(cfg), body_limit_(parent.body_limit_bytes()) {
    profiling::PyroscopeOptions opts;
    opts.tags = parent.tags;
    for (auto &[k, v] : cfg.tags) opts.tags[k] = v;
    opts.service = cfg.service;
    opts.env = cfg.env;
    opts.version = cfg.version;
    opts.generate_metrics = parent.generate_metrics;
    opts.metrics_pool = metrics_pool;
    opts.body_limit_bytes = parent.body_limit_bytes();
    ingest_ = std::make_unique<profiling::PyroscopeIngest>(host, std::move(opts));

    auto fail = [&](const std::string &why) {
        // No destructor runs for a constructor that throws: close what is open.
        for (int *fd : {&listen_fd_, &epoll_fd_, &wake_fd_, &spare_fd_})
            if (*fd >= 0) ::close(std::exchange(*fd, -1));
        throw std::runtime_error("inputs.profile.pyroscope: cannot listen on '" + cfg.url + "': " + why);
    };
    std::pair<std::string, std::string> hp;
    try {
        hp = split_listen_url(cfg.url);
    } catch (const std::exception &e) {
        fail(e.what());
    }
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (int rc = getaddrinfo(hp.first.c_str(), hp.second.c_str(), &hints, &res); rc != 0) fail(gai_strerror(rc));
    std::unique_ptr<addrinfo, void (*)(addrinfo *)> guard(res, freeaddrinfo);
    listen_fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) fail(std::strerror(errno));
    int one = 1;
    // SO_REUSEADDR only (no SO_REUSEPORT): a second listener on a taken port must fail.
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_, res->ai_addr, res->ai_addrlen) != 0) fail(std::strerror(errno));
    if (::listen(listen_fd_, 1024) != 0) fail(std::strerror(errno));
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) fail(std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

PyroscopeListener::~PyroscopeListener() {
    stop();
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_, spare_fd_})
        if (fd >= 0) ::close(fd);
}

void PyroscopeListener::start() {
    loop_thread_ = std::thread([this] { loop(); });
    for (size_t i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { work(); });
}

void PyroscopeListener::stop() {
    if (stopping_.exchange(true)) return;
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
    if (loop_thread_.joinable()) loop_thread_.join();
    work_cv_.notify_all();
    // Workers finish the request in hand (its emit included) and take no other.
    for (auto &w : workers_) w.join();
    workers_.clear();
    std::lock_guard<std::mutex> g(mu_);
    pending_.clear();
    finished_.clear();
}

void PyroscopeListener::work() {
    for (;;) {
        std::unique_ptr<Request> req;
        {
            std::unique_lock<std::mutex> g(mu_);
            work_cv_.wait(g, [&] { return stopping_ || !pending_.empty(); });
            if (stopping_) return;
            req = std::move(pending_.front());
            pending_.pop_front();
        }
        req->response = dispatch(*req);
        req->held.release();
        std::string().swap(req->body);
        {
            std::lock_guard<std::mutex> g(mu_);
            finished_.push_back(std::move(req));
        }
        uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
    }
}

trib::HttpResponse PyroscopeListener::dispatch(Request &req) {
    std::string content_type;
    std::vector<trib_header> headers;
    headers.reserve(req.headers.size());
    for (auto &[k, v] : req.headers) {
        headers.push_back(trib_header{sizeof(trib_header), trib::view(k), trib::view(v)});
        if (trib::HttpRequest::iequals(k, "content-type")) content_type = v;
    }
    trib_http_request r{};
    r.struct_size = sizeof r;
    r.method = trib::view(req.method);
    r.path = trib::view(req.path);
    r.query = trib::view(req.query);
    r.content_type = trib::view(content_type);
    r.headers = headers.empty() ? nullptr : headers.data();
    r.header_count = headers.size();
    r.body = trib::bytes_view(req.body);
    r.remote_addr = trib::view(req.remote);
    trib::HttpRequest wrapped(r);
    try {
        return req.path == profiling::PyroscopeIngest::kPushPath ? ingest_->handle_push(wrapped)
                                                                 : ingest_->handle_ingest(wrapped);
    } catch (const trib::MemoryRefused &e) {
        return trib::refusal_response(e.status, e.what());
    } catch (const std::bad_alloc &) {
        return trib::refusal_response(TRIB_RETRY, "collector is out of memory for this request: retry later");
    } catch (const std::exception &e) {
        // The text is for the operator, not the client.
        host_.error(std::string("inputs.profile.pyroscope: ") + req.path + " failed: " + e.what());
        return trib::HttpResponse::text(500, "internal error\n");
    }
}

void PyroscopeListener::loop() {
    std::vector<epoll_event> events(256);
    while (!stopping_) {
        int n = ::epoll_wait(epoll_fd_, events.data(), int(events.size()), 200);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n && !stopping_; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd_) {
                accept_all();
                continue;
            }
            if (fd == wake_fd_) {
                uint64_t v;
                (void)!::read(wake_fd_, &v, sizeof v);
                continue;
            }
            if (size_t(fd) >= connections_.size() || !connections_[size_t(fd)]) continue;
            Connection &c = *connections_[size_t(fd)];
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                close_connection(fd);
                continue;
            }
            if (events[i].events & EPOLLOUT) on_writable(c);
            if (connections_[size_t(fd)] && (events[i].events & (EPOLLIN | EPOLLRDHUP)))
                on_readable(*connections_[size_t(fd)]);
        }
        collect_finished();
        expire(Clock::now());
    }
    for (size_t fd = 0; fd < connections_.size(); ++fd)
        if (connections_[fd]) close_connection(int(fd));
}

void PyroscopeListener::accept_all() {
    for (;;) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
            // Out of descriptors: take the waiting connection with the spare one and close
            // it, rather than leave it pending (the loop would spin on it).
            ::close(spare_fd_);
            int dropped = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (dropped >= 0) ::close(dropped);
            spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            host_.counter_add("profile_pyroscope_connections_refused", 1);
            continue;
        }
        if (fd < 0) return; // EAGAIN, or a transient error: try on the next event
        if (open_ >= cfg_.max_connections) {
            ::close(fd);
            host_.counter_add("profile_pyroscope_connections_refused", 1);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char host[INET6_ADDRSTRLEN] = {0};
        uint16_t port = 0;
        if (addr.ss_family == AF_INET) {
            auto *a = reinterpret_cast<sockaddr_in *>(&addr);
            ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (addr.ss_family == AF_INET6) {
            auto *a = reinterpret_cast<sockaddr_in6 *>(&addr);
            ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        if (connections_.size() <= size_t(fd)) connections_.resize(size_t(fd) + 1);
        auto c = std::make_unique<Connection>();
        static uint64_t generations = 0;
        c->fd = fd;
        c->generation = ++generations;
        c->remote = std::string(host) + ":" + std::to_string(port);
        c->deadline = Clock::now() + cfg_.header_timeout;
        connections_[size_t(fd)] = std::move(c);
        ++open_;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

void PyroscopeListener::close_connection(int fd) {
    if (size_t(fd) >= connections_.size() || !connections_[size_t(fd)]) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_[size_t(fd)].reset();
    --open_;
}

void PyroscopeListener::on_readable(Connection &c) {
    char buf[kReadChunk];
    // A bounded amount per wake-up, so one fast sender cannot starve the rest.
    for (int round = 0; round < 16; ++round) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n == 0) {
            // The client is done sending; a request being answered still gets its answer.
            if (c.state == Connection::State::busy || c.state == Connection::State::writing) {
                c.close_after = true;
                epoll_event ev{};
                ev.events = c.want_write ? EPOLLOUT : 0;
                ev.data.fd = c.fd;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
                return;
            }
            close_connection(c.fd);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            close_connection(c.fd);
            return;
        }
        if (c.state == Connection::State::draining) continue;
        bool was_empty = c.in.empty();
        c.in.append(buf, size_t(n));
        // The header clock starts with a request's first byte (an idle keep-alive
        // connection waits idle_timeout for it).
        if (was_empty && c.state == Connection::State::headers && !c.request)
            c.deadline = std::min(c.deadline, Clock::now() + cfg_.header_timeout);
        if (c.state == Connection::State::busy || c.state == Connection::State::writing) {
            // Pipelined bytes wait for the answer in hand; a client sending more than a
            // header's worth meanwhile is not playing by the rules.
            if (c.in.size() > kMaxHeaderBytes) {
                close_connection(c.fd);
                return;
            }
            continue;
        }
        const int fd = c.fd;
        const Connection *self = &c;
        advance(c);
        if (connections_[size_t(fd)].get() != self) return; // closed (do not touch c)
        if (c.state == Connection::State::busy || c.state == Connection::State::writing) return;
    }
}

void PyroscopeListener::answer_now(Connection &c, const trib::HttpResponse &r, bool close_after) {
    auto req = std::make_unique<Request>();
    req->fd = c.fd;
    req->generation = c.generation;
    req->keep_alive = !close_after;
    req->response = r;
    c.request.reset();
    c.in.clear();
    c.state = Connection::State::busy;
    c.close_after = close_after;
    std::lock_guard<std::mutex> g(mu_);
    finished_.push_back(std::move(req));
}

void PyroscopeListener::advance(Connection &c) {
    using State = Connection::State;
    auto now = Clock::now();
    if (c.state == State::headers) {
        size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > kMaxHeaderBytes)
                answer_now(c, trib::HttpResponse::text(431, "request header larger than 64 KiB\n"), true);
            return;
        }
        if (end > kMaxHeaderBytes) {
            answer_now(c, trib::HttpResponse::text(431, "request header larger than 64 KiB\n"), true);
            return;
        }
        std::string_view head(c.in.data(), end);
        auto req = std::make_unique<Request>();
        req->fd = c.fd;
        req->generation = c.generation;
        req->remote = c.remote;
        req->held = trib::MemoryReservation(&host_);
        size_t eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        size_t s1 = line.find(' '), s2 = line.rfind(' ');
        if (s1 == std::string_view::npos || s2 == s1) {
            answer_now(c, trib::HttpResponse::text(400, "malformed request line\n"), true);
            return;
        }
        req->method = std::string(line.substr(0, s1));
        std::string_view target = line.substr(s1 + 1, s2 - s1 - 1), version = line.substr(s2 + 1);
        if (version != "HTTP/1.1" && version != "HTTP/1.0") {
            answer_now(c, trib::HttpResponse::text(400, "only HTTP/1.0 and HTTP/1.1 are served\n"), true);
            return;
        }
        if (auto p = target.find("://"); p != std::string_view::npos) { // absolute form
            auto slash = target.find('/', p + 3);
            target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        }
        auto q = target.find('?');
        req->path = std::string(target.substr(0, q));
        req->query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
        req->keep_alive = version == "HTTP/1.1";
        bool has_length = false, expect_continue = false, bad_length = false;
        c.chunked = false;
        c.content_length = 0;
        c.chunk_left = 0;
        c.chunk_crlf = false;
        size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
        while (pos < head.size()) {
            size_t next = head.find("\r\n", pos);
            if (next == std::string_view::npos) next = head.size();
            std::string_view h = head.substr(pos, next - pos);
            pos = next + 2;
            size_t colon = h.find(':');
            if (colon == std::string_view::npos || colon == 0) {
                answer_now(c, trib::HttpResponse::text(400, "malformed header line\n"), true);
                return;
            }
            if (req->headers.size() >= kMaxHeaders) {
                answer_now(c, trib::HttpResponse::text(431, "more than 100 header fields\n"), true);
                return;
            }
            std::string name(trim(h.substr(0, colon))), value(trim(h.substr(colon + 1)));
            if (iequals(name, "content-length")) {
                if (has_length || value.empty() || value.size() > 15 ||
                    !std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
                    bad_length = true;
                else c.content_length = std::stoull(value);
                has_length = true;
            } else if (iequals(name, "transfer-encoding")) {
                if (!iequals(value, "chunked")) {
                    answer_now(c, trib::HttpResponse::text(501, "only the chunked transfer coding is served\n"), true);
                    return;
                }
                c.chunked = true;
            } else if (iequals(name, "connection")) {
                if (has_token(value, "close")) req->keep_alive = false;
                else if (has_token(value, "keep-alive")) req->keep_alive = true;
            } else if (iequals(name, "expect")) {
                expect_continue = iequals(value, "100-continue");
            }
            req->headers.emplace_back(std::move(name), std::move(value));
        }
        c.in.erase(0, end + 4);
        if (bad_length || (has_length && c.chunked)) {
            answer_now(c, trib::HttpResponse::text(400, "bad Content-Length / Transfer-Encoding\n"), true);
            return;
        }
        bool known = req->path == "/ingest" || req->path == profiling::PyroscopeIngest::kPushPath;
        if (req->method != "POST" || !known) {
            answer_now(c,
                       trib::HttpResponse::text(404, "only POST /ingest and POST " +
                                                         std::string(profiling::PyroscopeIngest::kPushPath) +
                                                         " are served here\n"),
                       true);
            return;
        }
        if (c.content_length > body_limit_) {
            answer_now(c,
                       trib::HttpResponse::text(413, "body over body_size_limit_mb (" + std::to_string(body_limit_) +
                                                         " bytes)\n"),
                       true);
            return;
        }
        try {
            // The module holds the body: it counts against the host's in-flight budget.
            req->held.add(c.chunked ? std::min<uint64_t>(body_limit_, kReadChunk) : c.content_length, "request body");
        } catch (const trib::MemoryRefused &e) {
            answer_now(c, trib::refusal_response(e.status, e.what()), true);
            return;
        }
        if (expect_continue) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        req->body.reserve(c.chunked ? 0 : c.content_length);
        c.request = std::move(req);
        c.state = State::body;
        c.deadline = now + cfg_.read_timeout;
        if (!c.out.empty()) {
            const int fd = c.fd;
            const Connection *self = &c;
            on_writable(c);
            if (connections_[size_t(fd)].get() != self) return; // closed (do not touch c)
        }
    }
    if (c.state != State::body) return;
    Request &req = *c.request;
    size_t before = req.body.size();
    bool complete = false;
    if (!c.chunked) {
        size_t take = std::min<uint64_t>(c.in.size(), c.content_length - req.body.size());
        req.body.append(c.in, 0, take);
        c.in.erase(0, take);
        complete = req.body.size() == c.content_length;
    } else {
        // Chunk data is moved to the body as it arrives; only size lines wait in `in`.
        auto malformed = [&] { answer_now(c, trib::HttpResponse::text(400, "malformed chunked body\n"), true); };
        size_t pos = 0;
        for (;;) {
            if (c.chunk_left > 0) {
                size_t take = std::min<uint64_t>(c.chunk_left, c.in.size() - pos);
                try {
                    req.held.ensure(((req.body.size() + take) | 0xFFFF) + 1, "request body");
                } catch (const trib::MemoryRefused &e) {
                    answer_now(c, trib::refusal_response(e.status, e.what()), true);
                    return;
                }
                req.body.append(c.in, pos, take);
                pos += take;
                c.chunk_left -= take;
                if (c.chunk_left > 0) break;
                c.chunk_crlf = true;
            }
            if (c.chunk_crlf) {
                if (c.in.size() - pos < 2) break;
                if (c.in.compare(pos, 2, "\r\n") != 0) return malformed();
                pos += 2;
                c.chunk_crlf = false;
            }
            size_t eol = c.in.find("\r\n", pos);
            if (eol == std::string::npos) {
                if (c.in.size() - pos > 1024) return malformed();
                break;
            }
            uint64_t size;
            if (!chunk_size(std::string_view(c.in).substr(pos, eol - pos), size)) return malformed();
            if (size == 0) {
                // Trailer fields (ignored) up to the empty line.
                size_t end = c.in.compare(eol + 2, 2, "\r\n") == 0 ? eol : c.in.find("\r\n\r\n", eol + 2);
                if (end == std::string::npos) {
                    if (c.in.size() - pos > kMaxHeaderBytes) return malformed();
                    break;
                }
                pos = end + 4;
                complete = true;
                break;
            }
            if (req.body.size() + size > body_limit_) {
                answer_now(c,
                           trib::HttpResponse::text(413, "body over body_size_limit_mb (" +
                                                             std::to_string(body_limit_) + " bytes)\n"),
                           true);
                return;
            }
            c.chunk_left = size;
            pos = eol + 2;
        }
        c.in.erase(0, pos);
    }
    if (req.body.size() != before) c.deadline = now + cfg_.read_timeout;
    if (!complete) return;
    c.state = State::busy;
    c.close_after = !req.keep_alive;
    {
        std::lock_guard<std::mutex> g(mu_);
        pending_.push_back(std::move(c.request));
    }
    work_cv_.notify_one();
}

void PyroscopeListener::collect_finished() {
    std::deque<std::unique_ptr<Request>> done;
    {
        std::lock_guard<std::mutex> g(mu_);
        done.swap(finished_);
    }
    for (auto &req : done) {
        if (size_t(req->fd) >= connections_.size() || !connections_[size_t(req->fd)]) continue;
        Connection &c = *connections_[size_t(req->fd)];
        if (c.generation != req->generation) continue; // the client went away meanwhile
        const trib::HttpResponse &r = req->response;
        bool close_after = c.close_after || !req->keep_alive;
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
        head += "Content-Type: " + r.content_type + "\r\n";
        head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
        for (auto &[k, v] : r.headers) head += k + ": " + v + "\r\n";
        head += close_after ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
        c.out += head;
        c.out += r.body;
        c.close_after = close_after;
        c.state = Connection::State::writing;
        c.deadline = Clock::now() + cfg_.read_timeout;
        on_writable(c);
    }
}

void PyroscopeListener::on_writable(Connection &c) {
    while (c.out_pos < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            close_connection(c.fd);
            return;
        }
        c.out_pos += size_t(n);
    }
    bool pending = c.out_pos < c.out.size();
    if (!pending) {
        c.out.clear();
        c.out_pos = 0;
    }
    if (pending != c.want_write) {
        c.want_write = pending;
        epoll_event ev{};
        ev.events = (pending ? EPOLLOUT : 0) | (c.close_after ? 0 : EPOLLIN | EPOLLRDHUP);
        ev.data.fd = c.fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    }
    if (pending || c.state != Connection::State::writing) return;
    if (c.close_after) {
        ::shutdown(c.fd, SHUT_WR);
        c.state = Connection::State::draining;
        c.in.clear();
        c.deadline = Clock::now() + std::chrono::seconds(2);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = c.fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
        return;
    }
    // Keep-alive: wait for the next request (already begun if it was pipelined).
    c.state = Connection::State::headers;
    c.deadline = Clock::now() + (c.in.empty() ? cfg_.idle_timeout : cfg_.header_timeout);
    if (!c.in.empty()) advance(c);
}

void PyroscopeListener::expire(Clock::time_point now) {
    for (size_t fd = 0; fd < connections_.size(); ++fd) {
        auto &c = connections_[fd];
        if (!c || c->state == Connection::State::busy || now < c->deadline) continue;
        close_connection(int(fd));
    }
}

} // namespace trib::profile
