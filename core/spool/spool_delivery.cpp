#include "spool_delivery.hpp"

#include <random>

namespace trib::core {

SpoolDelivery::SpoolDelivery(std::string name, Spool &spool, Deliver deliver, RetryPolicy retry, unsigned workers,
                             Log log)
    : SpoolDelivery(std::move(name), spool,
                    DeliverAsync([deliver = std::move(deliver)](const std::vector<trib::Point> &batch, std::string &err,
                                                                std::function<void()> done) {
                        trib_status st = deliver(batch, err);
                        if (st == TRIB_OK) done();
                        return st;
                    }),
                    retry, workers, std::move(log)) {}

SpoolDelivery::SpoolDelivery(std::string name, Spool &spool, DeliverAsync deliver, RetryPolicy retry, unsigned workers,
                             Log log)
    : name_(std::move(name)), spool_(spool), deliver_(std::move(deliver)), ack_target_(std::make_shared<AckTarget>()),
      retry_(retry), workers_count_(workers == 0 ? 1 : workers), log_(std::move(log)) {
    ack_target_->spool = &spool_;
    if (retry_.initial_backoff.count() <= 0) retry_.initial_backoff = std::chrono::milliseconds(1);
    if (retry_.max_backoff < retry_.initial_backoff) retry_.max_backoff = retry_.initial_backoff;
}

SpoolDelivery::~SpoolDelivery() {
    stop();
    std::lock_guard<std::mutex> lk(ack_target_->mu);
    ack_target_->spool = nullptr;
}

void SpoolDelivery::log(trib_log_level lvl, const std::string &msg) const {
    if (log_) log_(lvl, name_ + ": " + msg);
}

void SpoolDelivery::start() {
    std::lock_guard<std::mutex> lk(mu_);
    if (!workers_.empty()) return;
    // Records handed out by an earlier run of this delivery and never acknowledged come first.
    spool_.rewind_unacked();
    stopping_ = false;
    for (unsigned i = 0; i < workers_count_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

void SpoolDelivery::stop() {
    std::vector<std::thread> ws;
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
        ws.swap(workers_);
    }
    stop_cv_.notify_all();
    for (auto &t : ws) t.join();
    // Records handed on but not yet released stay in flight: their late acknowledgements
    // (e.g. while the bus drains at shutdown) still retire them.
}

DeliveryStats SpoolDelivery::stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
}

bool SpoolDelivery::sleep_backoff(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lk(mu_);
    return !stop_cv_.wait_for(lk, d, [this] { return stopping_; });
}

void SpoolDelivery::worker_main(unsigned index) {
    std::mt19937_64 rng(std::random_device{}() ^ (uint64_t(index) << 32));
    for (;;) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (stopping_) return;
        }
        auto rec = spool_.next(std::chrono::milliseconds(100));
        if (!rec) continue;
        std::vector<Taken> group;
        uint64_t bytes = rec->payload.size();
        decode(std::move(*rec), group);
        while (group.size() < join_max_records_ && bytes < join_max_bytes_) {
            auto more = spool_.next(std::chrono::milliseconds(0));
            if (!more) break;
            bytes += more->payload.size();
            decode(std::move(*more), group);
        }
        if (group.empty()) continue;
        if (!deliver_group(group, rng)) return;
    }
}

bool SpoolDelivery::decode(SpoolRecord rec, std::vector<Taken> &into) {
    try {
        auto points = decode_points(rec.payload);
        into.push_back(Taken{std::move(rec), std::move(points)});
        return true;
    } catch (const PointCodecError &e) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            ++stats_.undecodable_records;
            ++stats_.permanent_failures;
        }
        spool_.set_aside(rec, std::string("undecodable: ") + e.what());
        return false;
    }
}

bool SpoolDelivery::deliver_group(std::vector<Taken> &group, std::mt19937_64 &rng) {
    std::vector<trib::Point> joined;
    const std::vector<trib::Point> *batch = &group.front().points;
    if (group.size() > 1) {
        for (auto &t : group) std::move(t.points.begin(), t.points.end(), std::back_inserter(joined));
        batch = &joined;
    }
    std::vector<SpoolRecordId> ids;
    for (auto &t : group) ids.push_back(t.record.id);

    auto backoff = retry_.initial_backoff;
    for (uint32_t attempt = 1;; ++attempt) {
        std::string err;
        trib_status st;
        auto done = [target = ack_target_, ids] {
            std::lock_guard<std::mutex> lk(target->mu);
            if (target->spool)
                for (auto &id : ids) target->spool->ack(id);
        };
        try {
            st = deliver_(*batch, err, done);
        } catch (const std::exception &e) {
            st = TRIB_RETRY;
            err = e.what();
        }
        if (st == TRIB_OK) {
            std::lock_guard<std::mutex> lk(mu_);
            stats_.delivered_records += group.size();
            stats_.delivered_points += batch->size();
            return true;
        }
        const bool transient = st == TRIB_RETRY || st == TRIB_BACKPRESSURE;
        const bool out_of_attempts = retry_.max_attempts != 0 && attempt >= retry_.max_attempts;
        if ((!transient || out_of_attempts) && group.size() > 1) {
            // One refused point must not set its neighbours aside: each record on its own
            // (decoded again: the joined batch took the points), with attempts of its own.
            for (auto &t : group) {
                std::vector<Taken> one;
                one.push_back(Taken{t.record, decode_points(t.record.payload)});
                if (!deliver_group(one, rng)) return false;
            }
            return true;
        }
        {
            std::lock_guard<std::mutex> lk(mu_);
            stats_.last_error_unix_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                  std::chrono::system_clock::now().time_since_epoch())
                                                                  .count());
            if (!transient || out_of_attempts) ++stats_.permanent_failures;
            else ++stats_.retries;
        }
        if (!transient || out_of_attempts) {
            spool_.set_aside(group.front().record,
                             (transient ? "gave up after " + std::to_string(attempt) + " attempts: " : std::string()) +
                                 err);
            return true;
        }
        // Log the first failure and then every 10th, not every attempt of a long outage.
        if (attempt == 1 || attempt % 10 == 0)
            log(TRIB_LOG_WARN, "delivery failed (attempt " + std::to_string(attempt) + "), retrying: " + err);
        auto jitter = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, backoff.count() / 10)(rng));
        if (!sleep_backoff(backoff + jitter)) return false; // stopping: the records stay in the spool
        backoff = std::min(backoff * 2, retry_.max_backoff);
    }
}

} // namespace trib::core
