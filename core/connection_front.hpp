// The listener's front: accepts TCP connections and parks each one in epoll, without a
// thread, until its request header has arrived in full (seen with MSG_PEEK, nothing is
// consumed); only then does a worker thread take the connection and serve it (Poco reads
// the request from the socket as usual). So idle or slow clients cost a file descriptor,
// not a thread, and a new client is served at once however many of them are open.
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
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace trib::core {

struct ConnectionLimits {
    size_t max_connections = 1024;
    std::chrono::milliseconds header_timeout{5000};
};

struct ConnectionStats {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> header_timeouts{0}; // closed with 408
    std::atomic<uint64_t> evicted{0};         // parked, closed to make room for a new one
    std::atomic<uint64_t> refused{0};         // 503: every connection was being served
    std::atomic<uint64_t> parked{0};          // gauge
    std::atomic<uint64_t> served{0};          // gauge: queued for or held by a worker
};

class ConnectionFront {
  public:
    // Serves one connection on a worker thread until it closes. It gets its own descriptor
    // (a dup) and must close it; the front may shut the socket down to stop the server.
    using ServeFn = std::function<void(int fd)>;

    // Takes ownership of listen_fd (a bound, listening socket).
    ConnectionFront(int listen_fd, ConnectionLimits limits, ServeFn serve);
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
    };
    void front_loop();
    void accept_all();
    void on_readable(int fd);
    void expire_parked();
    bool evict_oldest_parked();
    void unpark(int fd);
    void close_with(int fd, const std::string &response);
    void hand_to_worker(int fd);
    void worker_loop();

    int listen_fd_;
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
    std::deque<int> ready_;
    std::set<int> serving_; // descriptors a worker holds, for shutdown at stop
    size_t idle_workers_ = 0;
    std::vector<std::thread> workers_;
};

} // namespace trib::core
