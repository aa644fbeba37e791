#include "bus.hpp"

#include "host/log.hpp"

#include <pthread.h>

#include <algorithm>
#include <exception>

namespace trib::core {

uint64_t estimate_point_bytes(const trib::Point &p) {
    uint64_t n = sizeof(trib::Point) + p.measurement.size() + p.category.size();
    for (auto &t : p.tags) n += 2 * sizeof(std::string) + t.first.size() + t.second.size();
    for (auto &f : p.fields) n += sizeof(trib::Field) + f.key.size() + f.s.size();
    for (auto &a : p.attachments)
        n += sizeof(trib::Attachment) + a.name.size() + a.content_type.size() + a.stored_path.size() +
             (a.data ? a.data->size() + 32 : 0);
    return n;
}

bool SinkFilter::matches(const trib::Point &p) const {
    if (!categories.empty() && std::find(categories.begin(), categories.end(), p.category) == categories.end())
        return false;
    if (!measurements.empty() &&
        std::find(measurements.begin(), measurements.end(), p.measurement) == measurements.end())
        return false;
    return true;
}

// ------------------------------------------------------------------ SinkWorker

SinkWorker::SinkWorker(std::unique_ptr<Sink> sink, std::string type, SinkFilter filter, const BusConfig &cfg)
    : sink_(std::move(sink)), type_(std::move(type)), filter_(std::move(filter)), cfg_(cfg) {}

SinkWorker::~SinkWorker() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
        deadline_ = std::chrono::steady_clock::now();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void SinkWorker::start() {
    thread_ = std::thread([this] {
        // "sink:<name>" in top -H and perf (the kernel keeps 15 bytes).
        pthread_setname_np(pthread_self(), ("sink:" + name()).substr(0, 15).c_str());
        loop();
    });
}

size_t SinkWorker::queue_batches() const {
    std::lock_guard<std::mutex> lk(mu_);
    return queue_.size();
}

size_t SinkWorker::queue_points() const {
    std::lock_guard<std::mutex> lk(mu_);
    return queued_points_;
}

void SinkWorker::push(std::shared_ptr<const Batch> batch) {
    size_t n = batch->points.size();
    bool wake;
    {
        std::lock_guard<std::mutex> lk(mu_);
        // The thread waits only on an empty queue, or lingering until the caps fill: a push
        // onto a queue it already saw needs no wake-up (one futex call per batch saved).
        wake = queue_.empty();
        if (wake) queued_since_ = std::chrono::steady_clock::now();
        queued_points_ += n;
        queued_bytes_ += batch->bytes;
        stats_.queued_bytes += batch->bytes;
        queue_.push_back(std::move(batch));
        wake = wake || queued_points_ >= cfg_.max_write_points || queued_bytes_ >= cfg_.max_write_bytes;
    }
    stats_.received_points += n;
    if (wake) cv_.notify_one();
}

void SinkWorker::begin_drain(std::chrono::steady_clock::time_point deadline) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stopping_) deadline_ = deadline;
    stopping_ = true;
    cv_.notify_all();
}

bool SinkWorker::wait_drained(std::chrono::steady_clock::time_point hard_deadline) {
    if (!thread_.joinable()) return true;
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_until(lk, hard_deadline, [&] { return done_; })) return false;
    lk.unlock();
    thread_.join();
    return true;
}

void SinkWorker::flush_sink() {
    try {
        sink_->flush();
    } catch (const std::exception &e) {
        log_error("sink " + name(), std::string("flush failed: ") + e.what());
    }
}

void SinkWorker::deliver(const std::vector<const std::vector<trib::Point> *> &parts, size_t points, uint64_t bytes) {
    auto backoff = cfg_.retry_initial;
    for (;;) {
        std::string err;
        trib_status st;
        try {
            st = sink_->write_parts(parts, err);
        } catch (const std::exception &e) {
            st = TRIB_PERMANENT;
            err = std::string("write threw: ") + e.what();
        }
        if (st == TRIB_OK) {
            stats_.written_points += points;
            stats_.written_batches += 1;
            stats_.written_bytes += bytes;
            return;
        }
        if (st == TRIB_RETRY || st == TRIB_BACKPRESSURE) {
            stats_.retries += 1;
            std::unique_lock<std::mutex> lk(mu_);
            if (stopping_ && std::chrono::steady_clock::now() >= deadline_) {
                lk.unlock();
                stats_.dropped_points += points;
                log_error("sink " + name(),
                          "shutting down: dropped " + std::to_string(points) + " points still failing (" + err + ")");
                return;
            }
            log_debug("sink " + name(), "write failed, retrying: " + err);
            // Waits the backoff, or less when shutdown's deadline comes first.
            auto until = std::chrono::steady_clock::now() + backoff;
            if (stopping_ && deadline_ < until) until = deadline_;
            cv_.wait_until(lk, until, [&] { return stopping_ && std::chrono::steady_clock::now() >= deadline_; });
            backoff = std::min(backoff * 2, cfg_.retry_max);
            continue;
        }
        stats_.dropped_points += points;
        log_error("sink " + name(), "dropped " + std::to_string(points) +
                                        " points: " + (err.empty() ? std::string("write failed") : err));
        return;
    }
}

void SinkWorker::loop() {
    using clock = std::chrono::steady_clock;
    const auto flush_every = std::chrono::milliseconds(200);
    bool dirty = false;
    auto last_flush = clock::now();
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
        if (queue_.empty()) {
            if (stopping_) break;
            if (dirty) {
                cv_.wait_until(lk, last_flush + flush_every, [&] { return !queue_.empty() || stopping_; });
                if (queue_.empty() && clock::now() >= last_flush + flush_every) {
                    lk.unlock();
                    flush_sink();
                    lk.lock();
                    dirty = false;
                    last_flush = clock::now();
                }
            } else {
                cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
            }
            continue;
        }
        // A sink that groups on its own schedule waits for more, within the caps.
        if (auto linger = sink_->write_linger(); linger.count() > 0 && !stopping_) {
            cv_.wait_until(lk, queued_since_ + linger, [&] {
                return stopping_ || queued_points_ >= cfg_.max_write_points || queued_bytes_ >= cfg_.max_write_bytes;
            });
        }
        // What queued while the sink was busy goes out in one write, within the caps.
        std::vector<std::shared_ptr<const Batch>> taken;
        const bool join = sink_->takes_joined_batches();
        size_t points = 0;
        uint64_t bytes = 0;
        do {
            points += queue_.front()->points.size();
            bytes += queue_.front()->bytes;
            taken.push_back(std::move(queue_.front()));
            queue_.pop_front();
        } while (join && !queue_.empty() && points + queue_.front()->points.size() <= cfg_.max_write_points &&
                 bytes + queue_.front()->bytes <= cfg_.max_write_bytes);
        lk.unlock();
        std::vector<const std::vector<trib::Point> *> parts;
        parts.reserve(taken.size());
        for (auto &b : taken) parts.push_back(&b->points);
        deliver(parts, points, bytes);
        lk.lock();
        queued_points_ -= points;
        queued_bytes_ -= bytes;
        stats_.queued_bytes -= bytes;
        lk.unlock();
        taken.clear(); // releases the memory once every sink is done with it
        dirty = true;
        if (clock::now() >= last_flush + flush_every) {
            flush_sink();
            dirty = false;
            last_flush = clock::now();
        }
        lk.lock();
    }
    lk.unlock();
    flush_sink();
    lk.lock();
    done_ = true;
    cv_.notify_all();
}

// ------------------------------------------------------------------ Bus

Bus::Bus(const BusConfig &cfg) : cfg_(cfg), account_(cfg.max_memory_bytes) {}

Bus::~Bus() { shutdown(); }

void Bus::add_sink(std::unique_ptr<Sink> sink, std::string type, SinkFilter filter) {
    sinks_.push_back(std::make_unique<SinkWorker>(std::move(sink), std::move(type), std::move(filter), cfg_));
}

void Bus::start() {
    for (auto &s : sinks_) s->start();
}

namespace {
// Runs the callback when the last batch holding it is gone. Not copyable: a copy's
// destructor would run the callback early.
struct ReleaseToken {
    explicit ReleaseToken(std::function<void()> cb) : on_released(std::move(cb)) {}
    ReleaseToken(const ReleaseToken &) = delete;
    ReleaseToken &operator=(const ReleaseToken &) = delete;
    ~ReleaseToken() {
        if (on_released) on_released();
    }
    std::function<void()> on_released;
};
} // namespace

trib_status Bus::emit(std::vector<trib::Point> &&points, uint64_t &bytes_out, std::string &err,
                      std::function<void()> on_released) {
    bytes_out = 0;
    if (closed_.load()) {
        err = "shutting down";
        return TRIB_BACKPRESSURE;
    }
    if (points.empty()) return TRIB_OK;

    // Which points each sink takes: all of them (shared batch) or a subset (own copy).
    // Per-thread lists: an emit of a point or two should not allocate for its routing.
    thread_local std::vector<uint64_t> point_bytes;
    thread_local std::vector<bool> routed;
    point_bytes.assign(points.size(), 0);
    routed.assign(points.size(), false);
    uint64_t total = 0;
    for (size_t i = 0; i < points.size(); ++i) total += point_bytes[i] = estimate_point_bytes(points[i]);
    struct Plan {
        SinkWorker *sink;
        std::vector<size_t> subset; // empty with all=true
        bool all = false;
        uint64_t bytes = 0;
    };
    std::vector<Plan> plans;
    plans.reserve(sinks_.size());
    bool any_all = false;
    for (auto &s : sinks_) {
        Plan p{s.get(), {}, false, 0};
        for (size_t i = 0; i < points.size(); ++i)
            if (s->filter().matches(points[i])) {
                p.subset.push_back(i);
                p.bytes += point_bytes[i];
                routed[i] = true;
            }
        if (p.subset.empty()) continue;
        if (p.subset.size() == points.size()) {
            p.all = true;
            p.subset.clear();
            any_all = true;
        }
        plans.push_back(std::move(p));
    }
    uint64_t unrouted = static_cast<uint64_t>(std::count(routed.begin(), routed.end(), false));
    if (plans.empty()) {
        unrouted_ += unrouted;
        if (on_released) on_released();
        return TRIB_OK;
    }
    // Subset copies share attachment data with the original but are counted in full:
    // over-counting keeps real memory under the ceiling.
    uint64_t need = any_all ? total : 0;
    for (auto &p : plans)
        if (!p.all) need += p.bytes;
    if (need > account_.limit()) {
        err = "batch of " + std::to_string(need) + " bytes is larger than the bus memory ceiling (" +
              std::to_string(account_.limit()) + " bytes)";
        return TRIB_INVALID_ARGUMENT;
    }
    if (!account_.try_reserve(need)) {
        err = "bus memory ceiling reached";
        return TRIB_BACKPRESSURE;
    }
    unrouted_ += unrouted;
    bytes_out = total;
    std::shared_ptr<void> token;
    if (on_released) token = std::make_shared<ReleaseToken>(std::move(on_released));
    std::shared_ptr<Batch> shared;
    for (auto &p : plans) {
        if (p.all) continue;
        auto b = std::make_shared<Batch>();
        b->points.reserve(p.subset.size());
        for (size_t i : p.subset) b->points.push_back(points[i]);
        b->bytes = p.bytes;
        b->account = &account_;
        b->recycler = &recycler_;
        b->release_token = token;
        p.sink->push(std::move(b));
    }
    if (any_all) {
        shared = std::make_shared<Batch>();
        shared->points = std::move(points);
        shared->bytes = total;
        shared->account = &account_;
        shared->recycler = &recycler_;
        shared->release_token = token;
        for (auto &p : plans)
            if (p.all) p.sink->push(shared);
    }
    return TRIB_OK;
}

bool Bus::shutdown() {
    closed_ = true;
    auto now = std::chrono::steady_clock::now();
    auto deadline = now + cfg_.shutdown_timeout;
    auto hard = deadline + std::chrono::seconds(5);
    bool ok = true;
    for (auto &s : sinks_) s->begin_drain(deadline);
    for (auto &s : sinks_) {
        if (!s->wait_drained(hard)) {
            log_error("sink " + s->name(), "still blocked in write() after the shutdown timeout; " +
                                               std::to_string(s->queue_points()) + " queued points lost");
            ok = false;
        }
    }
    return ok;
}

} // namespace trib::core
