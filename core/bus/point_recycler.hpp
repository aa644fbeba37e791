// Spent points kept for the next emit to write over. Their strings keep their capacity, so a
// steady stream of small points (Pinpoint spans) allocates almost nothing per point, and the
// sink thread does not free what an input's thread allocated (under glibc such a free takes
// the allocating thread's arena lock). malloc and free were a fifth of the host's CPU on the
// span path before.
#pragma once

#include <tributary/plugin.hpp>

#include <cstdint>
#include <mutex>
#include <vector>

namespace trib::core {

class PointRecycler {
  public:
    // Keeps at most `max_points`, none whose strings hold more than `max_point_bytes`.
    PointRecycler(size_t max_points, uint64_t max_point_bytes)
        : max_points_(max_points), max_point_bytes_(max_point_bytes) {}
    PointRecycler(const PointRecycler &) = delete;
    PointRecycler &operator=(const PointRecycler &) = delete;

    // Takes what fits of `points` (left empty either way; the rest are freed here).
    void give(std::vector<trib::Point> &points);
    // Moves up to `n` spent points to the end of `out`.
    void take(std::vector<trib::Point> &out, size_t n);
    size_t kept() const;

    // Bytes a point's strings and lists hold (their capacity, not their size).
    static uint64_t held_bytes(const trib::Point &p);

  private:
    const size_t max_points_;
    const uint64_t max_point_bytes_;
    mutable std::mutex mu_;
    std::vector<trib::Point> spent_;
};

} // namespace trib::core
