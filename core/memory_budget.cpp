#include "memory_budget.hpp"

namespace trib::core {

trib_status MemoryBudget::reserve(uint64_t bytes) {
    if (bytes == 0) return TRIB_OK;
    if (bytes > limit_) {
        refused_too_large_.fetch_add(1, std::memory_order_relaxed);
        return TRIB_INVALID_ARGUMENT;
    }
    uint64_t cur = used_.load(std::memory_order_relaxed);
    for (;;) {
        if (cur + bytes > limit_) {
            refused_busy_.fetch_add(1, std::memory_order_relaxed);
            return TRIB_BACKPRESSURE;
        }
        if (used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
    }
    uint64_t now = cur + bytes;
    uint64_t p = peak_.load(std::memory_order_relaxed);
    while (now > p && !peak_.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
    return TRIB_OK;
}

void MemoryBudget::release(uint64_t bytes) {
    // A module that gives back more than it took must not wrap the counter.
    uint64_t cur = used_.load(std::memory_order_relaxed);
    while (!used_.compare_exchange_weak(cur, cur > bytes ? cur - bytes : 0, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    }
}

trib_status MemoryReservation::grow(uint64_t bytes) {
    if (!budget_) {
        bytes_ += bytes;
        return TRIB_OK;
    }
    // One request that outgrows the whole budget can never fit: not a retry case.
    if (bytes_ + bytes > budget_->limit()) return budget_->reserve(budget_->limit() + 1);
    trib_status st = budget_->reserve(bytes);
    if (st == TRIB_OK) bytes_ += bytes;
    return st;
}

void MemoryReservation::reset() {
    if (budget_ && bytes_) budget_->release(bytes_);
    bytes_ = 0;
}

} // namespace trib::core
