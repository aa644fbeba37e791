// Where generate_metrics runs when the user did not ask for synchronous metrics
// (metrics_sync = false, the default): threads owned by the module instance and a bounded
// queue, so the upload is answered once its profile point is emitted, not after the decode.
//
// When the queue is full the metrics are computed and emitted on the submitting thread
// (counted as `<counter_prefix>_metrics_inline`), and so are they when the uploads waiting
// hold more than max_queued_bytes: a burst slows the receiving threads down,
// as synchronous metrics would, and loses nothing. A metric point the host refuses is
// retried with backoff for about 2.5 s by a pool thread (not at all by a request thread),
// then dropped and counted (`<counter_prefix>_metrics_dropped`);
// the profile point was emitted before and is never affected. A profile the metrics cannot
// decode is logged and counted (`<counter_prefix>_metrics_errors`).
#pragma once

#include <tributary/plugin.hpp>
#include <tributary/profiling/metrics.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib::profiling {

class MetricsPool {
  public:
    // Queued uploads keep their files (inflated ones also held in the host's in-flight
    // budget) after the client has its answer, so the queue is bounded in bytes as well as
    // in uploads: under a 10x overload 64 queued 100 KB-class uploads per pool kept the
    // in-flight budget spent. One upload is queued whatever its size when nothing waits.
    static constexpr size_t kDefaultMaxQueuedBytes = size_t(16) << 20;

    // threads ≥ 1; at most max_queued uploads and max_queued_bytes of their files wait.
    MetricsPool(const trib::Host &host, std::string counter_prefix, size_t threads = 2, size_t max_queued = 64,
                size_t max_queued_bytes = kDefaultMaxQueuedBytes);
    ~MetricsPool();
    MetricsPool(const MetricsPool &) = delete;
    MetricsPool &operator=(const MetricsPool &) = delete;

    // The upload's profiling_metrics point, computed and emitted later (or now, when the
    // queue is full or the pool has stopped).
    void submit(MetricsWork work);

    // Computes and emits every queued upload's metrics, then joins the threads. Later
    // submits run on the caller's thread. The module calls it from stop(): once it
    // returns, the pool emits nothing more.
    void stop();

  private:
    void run();
    // may_wait: retry a refused point (pool threads), or drop it at once (a request thread).
    void compute_and_emit(const MetricsWork &work, bool may_wait);

    const trib::Host &host_;
    std::string prefix_;
    size_t max_queued_;
    size_t max_queued_bytes_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::pair<MetricsWork, size_t>> queue_; // work, its bytes
    size_t queued_bytes_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

} // namespace trib::profiling
