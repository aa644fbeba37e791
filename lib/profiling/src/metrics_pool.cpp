#include <tributary/profiling/metrics_pool.hpp>

#include <chrono>

namespace trib::profiling {

namespace {

// What a queued upload keeps alive: its files' bytes (inflated where the metrics read them).
size_t bytes_of(const MetricsWork &work) {
    size_t n = 0;
    for (auto &f : work.upload.files)
        if (f.data) n += f.data->size();
    return n;
}

} // namespace

MetricsPool::MetricsPool(const trib::Host &host, std::string counter_prefix, size_t threads, size_t max_queued,
                         size_t max_queued_bytes)
    : host_(host), prefix_(std::move(counter_prefix)), max_queued_(max_queued), max_queued_bytes_(max_queued_bytes) {
    if (threads == 0) threads = 1;
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

MetricsPool::~MetricsPool() { stop(); }

void MetricsPool::submit(MetricsWork work) {
    const size_t bytes = bytes_of(work);
    {
        std::lock_guard<std::mutex> g(mu_);
        if (!stopping_ && queue_.size() < max_queued_ &&
            (queue_.empty() || queued_bytes_ + bytes <= max_queued_bytes_)) {
            queued_bytes_ += bytes;
            queue_.emplace_back(std::move(work), bytes);
            cv_.notify_one();
            return;
        }
    }
    host_.counter_add(prefix_ + "_metrics_inline", 1);
    compute_and_emit(work, false);
}

void MetricsPool::stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto &t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void MetricsPool::run() {
    for (;;) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return; // stopping, and everything queued is done
        MetricsWork work = std::move(queue_.front().first);
        queued_bytes_ -= queue_.front().second;
        queue_.pop_front();
        lock.unlock();
        compute_and_emit(work, true);
    }
}

void MetricsPool::compute_and_emit(const MetricsWork &work, bool may_wait) {
    std::optional<trib::Point> point;
    try {
        point = work.point();
    } catch (const std::exception &e) {
        host_.warn(prefix_ + ": generate_metrics: " + e.what());
        host_.counter_add(prefix_ + "_metrics_errors", 1);
        return;
    }
    if (!point) return;
    // The bus may be full for a moment; the upload was answered already, so the point
    // waits here a little rather than failing a client that cannot retry it. A request
    // thread (queue full) does not wait.
    auto delay = std::chrono::milliseconds(10);
    for (int attempt = 0;; ++attempt) {
        trib_status st = host_.emit(*point);
        if (st == TRIB_OK) return;
        if (trib::refusal_of(st) != trib::Refusal::busy || attempt == 7 || !may_wait) {
            host_.counter_add(prefix_ + "_metrics_dropped", 1);
            host_.warn(prefix_ + ": a profiling_metrics point was refused by the host (status " +
                       std::to_string(int(st)) + ") and dropped");
            return;
        }
        std::this_thread::sleep_for(delay);
        delay *= 2; // 10 ms .. 1.28 s, about 2.5 s in all
    }
}

} // namespace trib::profiling
