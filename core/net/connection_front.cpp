#include "connection_front.hpp"

#include "host/log.hpp"
#include "net/tls_server.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trib::core {

namespace {

// Enough for any ordinary request header; a longer one is handed over unchecked and Poco
// applies its own header limits (400).
constexpr size_t kPeekBytes = 16384;

// A whole response for a connection that is closed right after it.
std::string closing_response(std::string_view status, std::string_view extra_headers, std::string_view text) {
    return "HTTP/1.1 " + std::string(status) +
           "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(text.size()) + "\r\n" +
           std::string(extra_headers) + "Connection: close\r\n\r\n" + std::string(text);
}
const std::string kTimeoutResponse =
    closing_response("408 Request Timeout", "", "request header not received in time\n");
const std::string kBusyResponse =
    closing_response("503 Service Unavailable", "Retry-After: 1\r\n", "too many connections, retry\n");

bool header_complete(std::string_view peeked) {
    return peeked.find("\r\n\r\n") != std::string_view::npos || peeked.find("\n\n") != std::string_view::npos;
}

} // namespace

ConnectionFront::ConnectionFront(std::vector<FrontListener> listeners, ConnectionLimits limits, ServeFn serve)
    : listeners_(std::move(listeners)), limits_(limits), serve_(std::move(serve)), peek_buf_(kPeekBytes) {
    if (limits_.max_connections == 0) limits_.max_connections = 1;
}

ConnectionFront::~ConnectionFront() {
    stop();
    for (auto &l : listeners_)
        if (l.fd >= 0) ::close(l.fd);
}

const FrontListener *ConnectionFront::listener_of(int fd) const {
    for (auto &l : listeners_)
        if (l.fd == fd) return &l;
    return nullptr;
}

void ConnectionFront::start() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error(std::string("epoll: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    for (auto &l : listeners_) {
        ev.data.fd = l.fd;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, l.fd, &ev) != 0)
            throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    front_ = std::thread([this] { front_loop(); });
}

void ConnectionFront::stop() {
    if (stopping_.exchange(true)) return;
    if (front_.joinable()) {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
        front_.join();
    }
    // The front thread is gone: parked connections are ours to close.
    for (auto &[fd, p] : parked_) ::close(fd);
    parked_.clear();
    park_order_.clear();
    {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto &c : ready_) ::close(c.fd);
        ready_.clear(); // frees their TLS state
        // Unblocks workers waiting in recv; their connections end and the fds are closed.
        for (int fd : serving_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    for (auto &t : workers_) t.join();
    workers_.clear();
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    epoll_fd_ = wake_fd_ = -1;
}

void ConnectionFront::front_loop() {
    std::vector<epoll_event> events(256);
    while (!stopping_) {
        int timeout_ms = 1000;
        if (!park_order_.empty()) {
            auto it = parked_.find(park_order_.front().second);
            if (it != parked_.end()) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(it->second.deadline -
                                                                                  std::chrono::steady_clock::now());
                timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 1000));
            } else {
                timeout_ms = 0; // a stale entry: expire_parked drops it
            }
        }
        int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
        if (n < 0 && errno != EINTR) {
            log_error("http", std::string("epoll_wait: ") + std::strerror(errno));
            break;
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == wake_fd_) continue;
            if (const FrontListener *l = listener_of(fd)) accept_all(*l);
            else if (!parked_.count(fd)) continue; // handed over earlier in this batch: a worker's now
            else if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                unpark(fd);
                ::close(fd);
            } else {
                on_readable(fd);
            }
        }
        expire_parked();
    }
}

void ConnectionFront::accept_all(const FrontListener &l) {
    for (;;) {
        // TLS connections stay non-blocking while the front drives their handshake.
        int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC | (l.tls ? SOCK_NONBLOCK : 0));
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                // Out of descriptors: make room from the idlest, or the listen queue spins.
                if (evict_oldest_parked()) continue;
                // Nothing to close: the listening socket stays readable, so wait a little
                // rather than spin until a served connection ends.
                log_debug("http", "cannot accept: out of file descriptors");
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            return; // EAGAIN: all taken
        }
        stats_.accepted++;
        if (parked_.size() + stats_.served.load() >= limits_.max_connections && !evict_oldest_parked()) {
            stats_.refused++;
            close_with(fd, kBusyResponse, l.tls != nullptr);
            continue;
        }
        Parked p{std::chrono::steady_clock::now() + limits_.header_timeout, next_seq_++, l.unix_socket, nullptr};
        if (l.tls) {
            SSL *ssl = l.tls->new_connection(fd);
            if (!ssl) {
                ::close(fd);
                continue;
            }
            p.tls = std::make_unique<TlsConnection>(ssl);
        }
        park_order_.emplace_back(p.seq, fd);
        parked_[fd] = std::move(p);
        stats_.parked = parked_.size();
        epoll_event ev{};
        // The handshake may wait for the socket to take more output (EPOLLOUT, edge only).
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (l.tls ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        // A client that sent its request with the connect is served without another event.
        on_readable(fd);
    }
}

void ConnectionFront::on_readable(int fd) {
    auto it = parked_.find(fd);
    if (it == parked_.end()) return;
    if (it->second.tls) return on_tls_event(fd, it->second);
    ssize_t n = ::recv(fd, peek_buf_.data(), peek_buf_.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        unpark(fd); // the client went away before its request was complete
        ::close(fd);
        return;
    }
    if (n < 0) return;
    if (static_cast<size_t>(n) < peek_buf_.size() &&
        !header_complete(std::string_view(peek_buf_.data(), static_cast<size_t>(n))))
        return;
    hand_to_worker(fd, it->second);
}

void ConnectionFront::on_tls_event(int fd, Parked &p) {
    TlsConnection &tls = *p.tls;
    TlsConnection::Step step = TlsConnection::Step::done;
    if (!tls.handshake_done) step = tls.handshake();
    if (step == TlsConnection::Step::done) step = tls.read_available(kPeekBytes);
    if (step == TlsConnection::Step::failed) {
        // A failed handshake (no or untrusted client certificate, wrong protocol) or a client
        // that left; nothing to answer in.
        if (!tls.handshake_done) stats_.tls_handshake_failures++;
        unpark(fd);
        ::close(fd);
        return;
    }
    if (step != TlsConnection::Step::done && !header_complete(tls.early)) return;
    // Workers read with blocking calls and the socket's receive timeout.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    hand_to_worker(fd, p);
}

void ConnectionFront::unpark(int fd) {
    if (parked_.erase(fd)) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    stats_.parked = parked_.size();
    // park_order_ keeps a stale (seq, fd) entry; it is skipped by seq when it comes up.
}

void ConnectionFront::expire_parked() {
    auto now = std::chrono::steady_clock::now();
    while (!park_order_.empty()) {
        auto [seq, fd] = park_order_.front();
        auto it = parked_.find(fd);
        if (it == parked_.end() || it->second.seq != seq) {
            park_order_.pop_front();
            continue;
        }
        if (it->second.deadline > now) break;
        park_order_.pop_front();
        bool tls = it->second.tls != nullptr;
        unpark(fd);
        stats_.header_timeouts++;
        close_with(fd, kTimeoutResponse, tls);
    }
}

bool ConnectionFront::evict_oldest_parked() {
    while (!park_order_.empty()) {
        auto [seq, fd] = park_order_.front();
        park_order_.pop_front();
        auto it = parked_.find(fd);
        if (it == parked_.end() || it->second.seq != seq) continue;
        bool tls = it->second.tls != nullptr;
        unpark(fd);
        stats_.evicted++;
        close_with(fd, kBusyResponse, tls);
        return true;
    }
    return false;
}

void ConnectionFront::close_with(int fd, const std::string &response, bool tls) {
    // Best effort, never blocking: the client is idle or slow by definition. Plain text
    // would only be noise inside a TLS stream.
    if (!tls) {
        [[maybe_unused]] auto n = ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    ::close(fd);
}

void ConnectionFront::hand_to_worker(int fd, Parked &p) {
    ServedConnection conn{fd, p.unix_socket, std::move(p.tls)};
    unpark(fd);
    stats_.served++;
    bool spawn = false;
    {
        std::lock_guard<std::mutex> lk(mu_);
        ready_.push_back(std::move(conn));
        // One thread per served connection (Poco holds it for the connection's life), so a
        // waiting connection never queues behind idle keep-alive ones; threads are reused.
        join_finished_workers();
        if (idle_workers_ < ready_.size() && workers_.size() < limits_.max_connections) spawn = true;
        if (spawn) workers_.emplace_back([this] { worker_loop(); });
    }
    cv_.notify_one();
}

void ConnectionFront::join_finished_workers() {
    // A finished worker pushed its id with mu_ held and then only returns: it has released
    // mu_ (we hold it), so joining it here cannot wait on us.
    for (auto id : finished_) {
        auto it =
            std::find_if(workers_.begin(), workers_.end(), [id](const std::thread &t) { return t.get_id() == id; });
        if (it == workers_.end()) continue;
        it->join();
        workers_.erase(it);
    }
    finished_.clear();
}

void ConnectionFront::worker_loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
        ++idle_workers_;
        bool woken = cv_.wait_for(lk, limits_.worker_idle_exit, [this] { return stopping_ || !ready_.empty(); });
        --idle_workers_;
        if (!woken) {
            if (workers_.size() - finished_.size() > limits_.workers_kept) {
                finished_.push_back(std::this_thread::get_id());
                return;
            }
            continue;
        }
        if (ready_.empty()) return; // stopping
        ServedConnection conn = std::move(ready_.front());
        ready_.pop_front();
        int fd = conn.fd;
        serving_.insert(fd);
        lk.unlock();
        conn.fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (conn.fd >= 0) {
            // A client that resets or times out ends here; that is its business, not a warning.
            try {
                serve_(conn);
            } catch (const std::exception &e) {
                log_debug("http", std::string("connection ended: ") + e.what());
            } catch (...) {
                log_debug("http", "connection ended");
            }
        }
        conn.tls.reset(); // before its socket closes
        lk.lock();
        serving_.erase(fd);
        ::close(fd);
        stats_.served--;
    }
}

} // namespace trib::core
