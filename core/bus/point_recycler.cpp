#include "bus/point_recycler.hpp"

#include <iterator>
#include <utility>

namespace trib::core {

uint64_t PointRecycler::held_bytes(const trib::Point &p) {
    uint64_t n = sizeof(trib::Point) + p.measurement.capacity() + p.category.capacity() +
                 p.tags.capacity() * sizeof(p.tags[0]) + p.fields.capacity() * sizeof(trib::Field);
    for (auto &t : p.tags) n += t.first.capacity() + t.second.capacity();
    for (auto &f : p.fields) n += f.key.capacity() + f.s.capacity();
    return n;
}

void PointRecycler::give(std::vector<trib::Point> &points) {
    {
        std::lock_guard<std::mutex> g(mu_);
        for (auto &p : points) {
            if (spent_.size() >= max_points_) break;
            if (p.attachments.empty() && held_bytes(p) <= max_point_bytes_) spent_.push_back(std::move(p));
        }
    }
    points.clear(); // what was not kept is freed outside the lock
}

void PointRecycler::take(std::vector<trib::Point> &out, size_t n) {
    std::lock_guard<std::mutex> g(mu_);
    size_t k = n < spent_.size() ? n : spent_.size();
    out.insert(out.end(), std::make_move_iterator(spent_.end() - k), std::make_move_iterator(spent_.end()));
    spent_.resize(spent_.size() - k);
}

size_t PointRecycler::kept() const {
    std::lock_guard<std::mutex> g(mu_);
    return spent_.size();
}

} // namespace trib::core
