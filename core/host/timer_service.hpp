// The host timer thread: periodic callbacks for modules (trib_host_api_t::timer_start).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace trib::core {

class TimerService {
  public:
    TimerService();
    ~TimerService();
    TimerService(const TimerService &) = delete;
    TimerService &operator=(const TimerService &) = delete;

    // fn runs every period on the timer thread, first after one period. Returns an id > 0.
    uint64_t start(std::chrono::milliseconds period, std::function<void()> fn);
    // Returns once fn is not running (immediately when called from fn itself).
    void stop(uint64_t id);
    void shutdown();

  private:
    struct Timer {
        std::chrono::milliseconds period;
        std::chrono::steady_clock::time_point next;
        std::function<void()> fn;
    };
    void loop();
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<uint64_t, Timer> timers_;
    uint64_t next_id_ = 1;
    uint64_t running_id_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace trib::core
