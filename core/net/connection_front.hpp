// The listener's front: accepts TCP connections and parks each one in epoll, without a
// thread, until its request header has arrived in full (seen with MSG_PEEK, nothing is
// consumed); only then does a worker thread take the connection and serve it (Poco reads
// the request from the socket as usual). So idle or slow clients cost a file descriptor,
// not a thread, and a new client is served at once however many of them are open.
//
// TLS listeners: the front also drives the handshake without blocking (OpenSSL on the
// non-blocking socket, one event at a time) and reads the decrypted request header into the
// connection's buffer; the header timeout covers handshake + header. Connections over
// TLS that time out or meet a full house are closed without an HTTP answer (there is no
// session to write it in). Unix-socket listeners are served like TCP ones.
//
// Bounds: a parked connection whose header is not complete within `header_timeout` gets
// 408 and is closed. At most `max_connections` are open (parked + served); at the limit the
// oldest parked one is closed to make room, and when every connection is being served a new
// one gets 503 and is closed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace trib::core {

class TlsServerContext;
struct TlsConnection;

struct ConnectionLimits {
    size_t max_connections = 1024;
    std::chrono::milliseconds header_timeout{5000};
    // A worker thread idle this long exits (a few are kept): after a burst of connections
    // the threads, and the stack pages each one touched, do not stay for the process's life.
    std::chrono::milliseconds worker_idle_exit{30000};
    size_t workers_kept = 4;
};

struct ConnectionStats {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> header_timeouts{0};        // closed with 408
    std::atomic<uint64_t> evicted{0};                // parked, closed to make room for a new one
    std::atomic<uint64_t> refused{0};                // 503: every connection was being served
    std::atomic<uint64_t> tls_handshake_failures{0}; // no/untrusted client certificate, not TLS, old version
    std::atomic<uint64_t> parked{0};                 // gauge
    std::atomic<uint64_t> served{0};                 // gauge: queued for or held by a worker
};

// One listening socket (bound, listening, non-blocking); the front owns its descriptor.
struct FrontListener {
    int fd = -1;
    const TlsServerContext *tls = nullptr; // non-null: connections speak TLS (outlives the front)
    bool unix_socket = false;
};

// A connection handed to a worker.
struct ServedConnection {
    int fd = -1; // the worker's own descriptor (a dup): the serve function must close it
    bool unix_socket = false;
    std::unique_ptr<TlsConnection> tls; // null: plain; else past its handshake, header in tls->early
};

class ConnectionFront {
  public:
    // Serves one connection on a worker thread until it closes; the front may shut the
    // socket down to stop the server.
    using ServeFn = std::function<void(ServedConnection &conn)>;

    ConnectionFront(std::vector<FrontListener> listeners, ConnectionLimits limits, ServeFn serve);
    ~ConnectionFront();
    ConnectionFront(const ConnectionFront &) = delete;
    ConnectionFront &operator=(const ConnectionFront &) = delete;

    // Throws std::runtime_error when epoll cannot be set up.
    void start();
    // Stops accepting, closes parked connections, shuts served ones down and joins every
    // thread.
    void stop();

    const ConnectionStats &stats() const { return stats_; }

  private:
    struct Parked {
        std::chrono::steady_clock::time_point deadline;
        uint64_t seq;
        bool unix_socket = false;
        std::unique_ptr<TlsConnection> tls;
    };
    void front_loop();
    void accept_all(const FrontListener &l);
    void on_readable(int fd);
    void on_tls_event(int fd, Parked &p);
    void expire_parked();
    bool evict_oldest_parked();
    void unpark(int fd);
    void close_with(int fd, const std::string &response, bool tls = false);
    void hand_to_worker(int fd, Parked &p);
    void worker_loop();
    const FrontListener *listener_of(int fd) const;

    std::vector<FrontListener> listeners_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    ConnectionLimits limits_;
    ServeFn serve_;
    ConnectionStats stats_;
    std::thread front_;
    std::atomic<bool> stopping_{false};

    // Front thread only.
    std::unordered_map<int, Parked> parked_;
    std::deque<std::pair<uint64_t, int>> park_order_; // (seq, fd), oldest first
    uint64_t next_seq_ = 0;
    std::vector<char> peek_buf_;

    // Shared with the workers.
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<ServedConnection> ready_;
    std::set<int> serving_; // descriptors a worker holds, for shutdown at stop
    size_t idle_workers_ = 0;
    std::vector<std::thread> workers_;
    std::vector<std::thread::id> finished_; // workers that exited idle, joined by the front thread
    void join_finished_workers();           // with mu_ held
};

} // namespace trib::core
