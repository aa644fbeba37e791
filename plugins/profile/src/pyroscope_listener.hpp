// [[inputs.profile.pyroscope]]: an own HTTP/1.1 listener on `url` serving POST /ingest (and
// the Connect push route) through the shared PyroscopeIngest.
//
// One event-loop thread reads every connection (epoll, non-blocking), so idle or slow
// clients cost a few hundred bytes each, never a thread: a new client is served while
// thousands of others hold connections open. Only complete requests go to the small
// worker pool. A header must arrive within header_timeout, an idle keep-alive connection
// is closed after idle_timeout, a stalled body after read_timeout.
#pragma once

#include "config.hpp"

#include <tributary/plugin.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace trib::profiling {
class PyroscopeIngest;
class MetricsPool;
} // namespace trib::profiling

namespace trib::profile {

class PyroscopeListener {
  public:
    // Binds the address at once; throws std::runtime_error naming it when it cannot.
    // metrics_pool: the instance's (null: metrics before the answer, metrics_sync = true).
    PyroscopeListener(trib::Host &host, const PyroscopeListenConfig &cfg, const ProfileConfig &parent,
                      profiling::MetricsPool *metrics_pool);
    ~PyroscopeListener();
    PyroscopeListener(const PyroscopeListener &) = delete;
    PyroscopeListener &operator=(const PyroscopeListener &) = delete;

    void start();
    // Stops accepting, closes every connection and waits for requests in flight.
    void stop();
    uint16_t port() const { return port_; }

    struct Connection;
    struct Request;

  private:
    void loop();
    void work();
    void accept_all();
    void on_readable(Connection &c);
    void on_writable(Connection &c);
    // Parses what arrived; queues a complete request or answers an error.
    void advance(Connection &c);
    void answer_now(Connection &c, const trib::HttpResponse &r, bool close_after);
    void close_connection(int fd);
    void expire(std::chrono::steady_clock::time_point now);
    void collect_finished();
    trib::HttpResponse dispatch(Request &req);

    trib::Host &host_;
    PyroscopeListenConfig cfg_;
    uint64_t body_limit_;
    std::unique_ptr<profiling::PyroscopeIngest> ingest_;
    int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
    int spare_fd_ = -1; // kept open to accept-and-close a client when descriptors run out
    uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread loop_thread_;
    std::vector<std::thread> workers_;
    std::vector<std::unique_ptr<Connection>> connections_; // by fd
    size_t open_ = 0;

    std::mutex mu_;
    std::condition_variable work_cv_;
    std::deque<std::unique_ptr<Request>> pending_;  // complete requests for the workers
    std::deque<std::unique_ptr<Request>> finished_; // answered, for the loop to write
};

} // namespace trib::profile
