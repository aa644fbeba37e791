// Memory accounting. MemoryAccount: a lock-free used/peak/limit counter (the bus's points).
// MemoryBudget: the host-wide budget for data in flight built on one — request bodies the
// listener holds and whatever modules take through the host table's memory_reserve (inflated
// parts, decoded profiles). Many large requests at once then meet 429 instead of exhausting
// memory; one request larger than the whole budget meets 413. Any thread.
#pragma once

#include <tributary/plugin.h>

#include <atomic>
#include <cstdint>

namespace trib::core {

class MemoryAccount {
  public:
    explicit MemoryAccount(uint64_t limit) : limit_(limit) {}
    bool try_reserve(uint64_t bytes);
    // Clamps at zero: a caller that gives back more than it took cannot wrap the counter.
    void release(uint64_t bytes);
    uint64_t used() const { return used_.load(std::memory_order_acquire); }
    uint64_t peak() const { return peak_.load(std::memory_order_acquire); }
    uint64_t limit() const { return limit_; }

  private:
    uint64_t limit_;
    std::atomic<uint64_t> used_{0};
    std::atomic<uint64_t> peak_{0};
};

class MemoryBudget {
  public:
    explicit MemoryBudget(uint64_t limit_bytes) : account_(limit_bytes) {}

    // TRIB_OK: reserved (give it back with release). TRIB_BACKPRESSURE: spent right now.
    // TRIB_INVALID_ARGUMENT: `bytes` alone is more than the whole budget.
    trib_status reserve(uint64_t bytes);
    void release(uint64_t bytes) { account_.release(bytes); }

    uint64_t used() const { return account_.used(); }
    uint64_t limit() const { return account_.limit(); }
    uint64_t peak() const { return account_.peak(); }
    uint64_t refused_busy() const { return refused_busy_.load(std::memory_order_relaxed); }
    uint64_t refused_too_large() const { return refused_too_large_.load(std::memory_order_relaxed); }

  private:
    MemoryAccount account_;
    std::atomic<uint64_t> refused_busy_{0};
    std::atomic<uint64_t> refused_too_large_{0};
};

// Holds a reservation and gives it back on destruction.
class MemoryReservation {
  public:
    MemoryReservation() = default;
    explicit MemoryReservation(MemoryBudget *budget) : budget_(budget) {}
    ~MemoryReservation() { reset(); }
    MemoryReservation(const MemoryReservation &) = delete;
    MemoryReservation &operator=(const MemoryReservation &) = delete;

    // Grows the reservation by `bytes`; on anything but TRIB_OK nothing more is held, and
    // TRIB_INVALID_ARGUMENT when the total would pass the whole budget (never fits).
    // Without a budget every reservation succeeds.
    trib_status grow(uint64_t bytes);
    uint64_t bytes() const { return bytes_; }
    void reset();

  private:
    MemoryBudget *budget_ = nullptr;
    uint64_t bytes_ = 0;
};

} // namespace trib::core
