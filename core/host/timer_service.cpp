#include "timer_service.hpp"

#include "host/log.hpp"

#include <pthread.h>

#include <exception>

namespace trib::core {

TimerService::TimerService()
    : thread_([this] {
          pthread_setname_np(pthread_self(), "timers"); // modules' periodic work, apart in top -H and perf
          loop();
      }) {}

TimerService::~TimerService() { shutdown(); }

void TimerService::shutdown() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
        timers_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

uint64_t TimerService::start(std::chrono::milliseconds period, std::function<void()> fn) {
    if (period.count() <= 0) period = std::chrono::milliseconds(1);
    std::lock_guard<std::mutex> lk(mu_);
    uint64_t id = next_id_++;
    timers_[id] = Timer{period, std::chrono::steady_clock::now() + period, std::move(fn)};
    cv_.notify_all();
    return id;
}

void TimerService::stop(uint64_t id) {
    std::unique_lock<std::mutex> lk(mu_);
    timers_.erase(id);
    if (std::this_thread::get_id() == thread_.get_id()) return;
    cv_.wait(lk, [&] { return running_id_ != id; });
}

void TimerService::loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
        if (timers_.empty()) {
            cv_.wait(lk);
            continue;
        }
        auto due = timers_.begin();
        for (auto it = timers_.begin(); it != timers_.end(); ++it)
            if (it->second.next < due->second.next) due = it;
        auto when = due->second.next;
        if (std::chrono::steady_clock::now() < when) {
            cv_.wait_until(lk, when);
            continue;
        }
        uint64_t id = due->first;
        auto fn = due->second.fn;
        // Next run one period after this one was due; a late timer does not fire in bursts.
        due->second.next = std::max(when + due->second.period, std::chrono::steady_clock::now());
        running_id_ = id;
        lk.unlock();
        try {
            fn();
        } catch (const std::exception &e) {
            log_error("timers", std::string("timer callback threw: ") + e.what());
        } catch (...) {
            log_error("timers", "timer callback threw");
        }
        lk.lock();
        running_id_ = 0;
        cv_.notify_all();
    }
}

} // namespace trib::core
