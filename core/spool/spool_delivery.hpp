// Drains a Spool into a consumer (a sink's write, or the bus for an input's spool) on its
// own worker threads, with retries and exponential backoff.
//
//   OK                         -> the record is acknowledged (and its segment later deleted)
//   RETRY / BACKPRESSURE       -> retried after initial_backoff * 2^n (capped at max_backoff,
//                                 with jitter) until it succeeds, the attempt limit is reached
//                                 or the delivery stops (then it stays in the spool)
//   PERMANENT / other, attempt limit reached, or an undecodable record
//                              -> set aside in the spool's quarantine/, counted, logged
#pragma once

#include "spool/point_codec.hpp"
#include "spool/spool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace trib::core {

struct RetryPolicy {
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{30000};
    // Total attempts per record; 0 = until it succeeds (nothing acknowledged is given up).
    uint32_t max_attempts = 0;
};

struct DeliveryStats {
    uint64_t delivered_records = 0;
    uint64_t delivered_points = 0;
    uint64_t retries = 0;             // failed attempts that were retried
    uint64_t permanent_failures = 0;  // records set aside: refused or out of attempts
    uint64_t undecodable_records = 0; // records that passed the CRC but not the point codec
    uint64_t last_error_unix_ms = 0;
};

class SpoolDelivery {
  public:
    using Deliver = std::function<trib_status(const std::vector<trib::Point> &batch, std::string &err)>;
    // Hands the batch on; when it answers OK, the record is acknowledged only once `done`
    // is called (from any thread, at most once, possibly after this object is gone): e.g.
    // when every sink has finished with the points.
    using DeliverAsync =
        std::function<trib_status(const std::vector<trib::Point> &batch, std::string &err, std::function<void()> done)>;
    using Log = std::function<void(trib_log_level, const std::string &)>;

    SpoolDelivery(std::string name, Spool &spool, Deliver deliver, RetryPolicy retry, unsigned workers = 1,
                  Log log = {});
    SpoolDelivery(std::string name, Spool &spool, DeliverAsync deliver, RetryPolicy retry, unsigned workers = 1,
                  Log log = {});
    ~SpoolDelivery();
    SpoolDelivery(const SpoolDelivery &) = delete;
    SpoolDelivery &operator=(const SpoolDelivery &) = delete;

    void start();
    // Stops the workers: an attempt in progress finishes, a backoff wait is cut short, and
    // whatever is not acknowledged stays in the spool for the next start. Acknowledgements
    // of records already handed on are still taken while this object lives.
    void stop();

    // A worker that finds several records ready hands them on in one batch (up to these),
    // so a consumer that waits once per call (acks, a request) pays that once per backlog.
    // Off (1 record) unless set before start(): an input's spool feeds the bus, whose
    // ceiling a joined batch could pass.
    void join_records(size_t max_records, uint64_t max_bytes) {
        join_max_records_ = max_records == 0 ? 1 : max_records;
        join_max_bytes_ = max_bytes;
    }

    DeliveryStats stats() const;
    const std::string &name() const { return name_; }

  private:
    struct Taken {
        SpoolRecord record;
        std::vector<trib::Point> points;
    };
    void worker_main(unsigned index);
    bool decode(SpoolRecord rec, std::vector<Taken> &into);
    // false: the delivery is stopping (what was not acknowledged stays in the spool).
    bool deliver_group(std::vector<Taken> &group, std::mt19937_64 &rng);
    bool sleep_backoff(std::chrono::milliseconds d);
    void log(trib_log_level lvl, const std::string &msg) const;

    std::string name_;
    // Late `done` calls find the spool through this, cleared when the delivery goes away.
    struct AckTarget {
        std::mutex mu;
        Spool *spool;
    };
    Spool &spool_;
    DeliverAsync deliver_;
    std::shared_ptr<AckTarget> ack_target_;
    RetryPolicy retry_;
    unsigned workers_count_;
    size_t join_max_records_ = 1;
    uint64_t join_max_bytes_ = 0;
    Log log_;

    std::vector<std::thread> workers_;
    mutable std::mutex mu_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    DeliveryStats stats_;
};

} // namespace trib::core
