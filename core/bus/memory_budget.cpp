#include "memory_budget.hpp"

namespace trib::core {

bool MemoryAccount::try_reserve(uint64_t bytes) {
    uint64_t cur = used_.load(std::memory_order_acquire);
    for (;;) {
        if (cur + bytes > limit_) return false;
        if (used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_acq_rel)) break;
    }
    uint64_t now = cur + bytes;
    uint64_t pk = peak_.load(std::memory_order_relaxed);
    while (now > pk && !peak_.compare_exchange_weak(pk, now, std::memory_order_relaxed)) {}
    return true;
}

void MemoryAccount::release(uint64_t bytes) {
    uint64_t cur = used_.load(std::memory_order_acquire);
    while (!used_.compare_exchange_weak(cur, cur > bytes ? cur - bytes : 0, std::memory_order_acq_rel)) {}
}

trib_status MemoryBudget::reserve(uint64_t bytes) {
    if (bytes > account_.limit()) {
        refused_too_large_.fetch_add(1, std::memory_order_relaxed);
        return TRIB_INVALID_ARGUMENT;
    }
    if (account_.try_reserve(bytes)) return TRIB_OK;
    refused_busy_.fetch_add(1, std::memory_order_relaxed);
    return TRIB_BACKPRESSURE;
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
