// The bus: many producers (module emit calls) hand owned points to it; it accounts their
// memory against a ceiling and routes them by category and measurement to each sink's own
// bounded queue and thread (SinkWorker), so a slow sink does not stall the others. When
// the ceiling would be crossed, emit answers BACKPRESSURE at once: it never blocks and the
// queues never grow past the ceiling.
#pragma once

#include "bus/memory_budget.hpp"
#include "bus/point_recycler.hpp"
#include "config/config.hpp"
#include "sinks/sink.hpp"

#include <tributary/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib::core {

// Rough bytes a point holds in memory (strings, fields, attachment data).
uint64_t estimate_point_bytes(const trib::Point &p);

// Points held by the bus; releases its bytes from the account when the last sink is done.
struct Batch {
    std::vector<trib::Point> points;
    uint64_t bytes = 0;
    MemoryAccount *account = nullptr;
    // Where the points go once no sink needs them (null: freed).
    PointRecycler *recycler = nullptr;
    // Shared by every batch made from one emit; its owner's callback runs when the last
    // of them is gone, i.e. when no sink needs the points any more (an input spool then
    // retires its record).
    std::shared_ptr<void> release_token;
    Batch() = default;
    Batch(const Batch &) = delete;
    Batch &operator=(const Batch &) = delete;
    ~Batch() {
        if (recycler) recycler->give(points);
        if (account) account->release(bytes);
    }
};

struct SinkFilter {
    std::vector<std::string> categories;   // empty = all
    std::vector<std::string> measurements; // empty = all
    bool matches(const trib::Point &p) const;
};

struct SinkStats {
    std::atomic<uint64_t> received_points{0}; // routed into the queue
    std::atomic<uint64_t> written_points{0};
    std::atomic<uint64_t> dropped_points{0};
    std::atomic<uint64_t> retries{0};
    std::atomic<uint64_t> written_batches{0};
    std::atomic<uint64_t> queued_bytes{0};
    std::atomic<uint64_t> written_bytes{0};
};

class SinkWorker {
  public:
    SinkWorker(std::unique_ptr<Sink> sink, std::string type, SinkFilter filter, const BusConfig &cfg);
    ~SinkWorker();
    SinkWorker(const SinkWorker &) = delete;
    SinkWorker &operator=(const SinkWorker &) = delete;

    const std::string &name() const { return sink_->name(); }
    const std::string &type() const { return type_; }
    const SinkFilter &filter() const { return filter_; }
    const SinkStats &stats() const { return stats_; }
    size_t queue_batches() const;
    size_t queue_points() const;

    void start();
    void push(std::shared_ptr<const Batch> batch);
    // Stop taking work, write what is queued (retrying until `deadline`, then dropping
    // what is left, counted), flush. Returns when the thread is done or `hard_deadline`
    // passed (false: the sink is stuck in write()).
    void begin_drain(std::chrono::steady_clock::time_point deadline);
    bool wait_drained(std::chrono::steady_clock::time_point hard_deadline);

  private:
    void loop();
    void deliver(const std::vector<const std::vector<trib::Point> *> &parts, size_t points, uint64_t bytes);
    void flush_sink();

    std::unique_ptr<Sink> sink_;
    std::string type_;
    SinkFilter filter_;
    BusConfig cfg_;
    SinkStats stats_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<const Batch>> queue_;
    size_t queued_points_ = 0;
    uint64_t queued_bytes_ = 0;
    // When the queue last went from empty to not empty (a lingering sink's wait counts from it).
    std::chrono::steady_clock::time_point queued_since_{};
    bool stopping_ = false;
    bool done_ = false;
    std::chrono::steady_clock::time_point deadline_{};
    std::thread thread_;
};

class Bus {
  public:
    explicit Bus(const BusConfig &cfg);
    ~Bus();

    void add_sink(std::unique_ptr<Sink> sink, std::string type, SinkFilter filter);
    void start();

    // Takes the points (already tagged). OK: queued for every matching sink.
    // BACKPRESSURE: over the memory ceiling or shutting down; nothing was taken.
    // INVALID_ARGUMENT: the batch alone is larger than the ceiling (err says so).
    // on_released (optional): called once, after OK, when every sink is done with the points.
    trib_status emit(std::vector<trib::Point> &&points, uint64_t &bytes_out, std::string &err,
                     std::function<void()> on_released = {});

    // No more emits; drain every sink (see SinkWorker::drain). false when a sink is stuck.
    bool shutdown();

    const MemoryAccount &memory() const { return account_; }
    // Spent points for an emit to write over (see PointRecycler).
    PointRecycler &recycler() { return recycler_; }
    const std::vector<std::unique_ptr<SinkWorker>> &sinks() const { return sinks_; }
    uint64_t unrouted_points() const { return unrouted_.load(); }

  private:
    BusConfig cfg_;
    MemoryAccount account_;
    // At most 1,024 spent points of up to 16 KiB each: ~2 MB for a stream of spans.
    PointRecycler recycler_{1024, 16 * 1024};
    std::vector<std::unique_ptr<SinkWorker>> sinks_;
    std::atomic<bool> closed_{false};
    std::atomic<uint64_t> unrouted_{0};
};

} // namespace trib::core
