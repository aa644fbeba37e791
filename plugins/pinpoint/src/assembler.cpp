#include "assembler.hpp"

#include <atomic>
#include <set>
#include <unordered_set>

namespace trib::pinpoint {

std::string trace_id_of(const v1::PTransactionId *tx, const CallHeaders &h) {
    std::string agent = tx && !tx->agentid().empty() ? tx->agentid() : h.agent_id;
    if (agent.empty()) agent = h.application_name;
    if (agent.empty()) agent = "unknown-pp-agent";
    int64_t start = tx ? tx->agentstarttime() : h.agent_start_time;
    int64_t seq = tx ? tx->sequence() : 0;
    return agent + "^" + std::to_string(start) + "^" + std::to_string(seq);
}

namespace {

template <class F>
void for_each_event(const SpanPiece &p, F &&f) {
    if (p.span)
        for (auto &e : p.span->spanevent()) f(p.span->spanid(), e);
    if (p.chunk)
        for (auto &e : p.chunk->spanevent()) f(p.chunk->spanid(), e);
}

bool valid_next_span(int64_t id) { return id != 0 && id != -1; }

} // namespace

bool trace_is_complete(const std::vector<SpanPiece> &pieces) {
    std::unordered_set<int64_t> spans;
    std::set<std::pair<int64_t, int32_t>> async_chunks;
    bool root = false;
    for (auto &p : pieces) {
        if (p.span) {
            spans.insert(p.span->spanid());
            if (p.span->parentspanid() == -1) root = true;
        } else if (p.chunk && p.chunk->has_localasyncid()) {
            async_chunks.emplace(p.chunk->spanid(), p.chunk->localasyncid().asyncid());
        }
    }
    if (!root) return false;
    for (auto &p : pieces) {
        if (p.span && p.span->parentspanid() != -1 && !spans.count(p.span->parentspanid())) return false;
        bool missing = false;
        for_each_event(p, [&](int64_t owner, const v1::PSpanEvent &e) {
            if (missing) return;
            if (e.has_nextevent() && e.nextevent().has_messageevent()) {
                int64_t next = e.nextevent().messageevent().nextspanid();
                if (valid_next_span(next) && next != owner && !spans.count(next)) missing = true;
            }
            if (e.asyncevent() != 0 && !async_chunks.count({owner, e.asyncevent()})) missing = true;
        });
        if (missing) return false;
    }
    return true;
}

Assembler::Assembler(Options o) : opt_(o) {}

Assembler::Shard &Assembler::shard_of(const std::string &trace_id) {
    return shards_[std::hash<std::string>{}(trace_id) % kShards];
}

std::shared_ptr<const LinkIndex> Assembler::earlier_of(Shard &s, const std::string &trace_id) const {
    auto it = s.remembered.find(trace_id);
    return it == s.remembered.end() ? nullptr : it->second.index;
}

ReadyTrace Assembler::take(Shard &s, const std::string &trace_id, bool expired) {
    ReadyTrace r;
    auto it = s.pending.find(trace_id);
    if (it == s.pending.end()) return r;
    r.trace_id = trace_id;
    r.pieces = std::move(it->second.pieces);
    r.expired = expired;
    r.earlier = earlier_of(s, trace_id);
    bytes_ -= it->second.bytes;
    s.pending.erase(it);
    return r;
}

std::vector<ReadyTrace> Assembler::add(std::string trace_id, SpanPiece piece, int64_t now_ms) {
    std::vector<ReadyTrace> out;
    Shard &s = shard_of(trace_id);
    {
        std::lock_guard<std::mutex> g(s.mu);
        auto earlier = earlier_of(s, trace_id);
        auto it = s.pending.find(trace_id);
        if (earlier && it == s.pending.end()) {
            // The trace was converted already: this late piece goes out at once.
            ReadyTrace r;
            r.trace_id = std::move(trace_id);
            r.pieces.push_back(std::move(piece));
            r.earlier = std::move(earlier);
            out.push_back(std::move(r));
            return out;
        }
        if (it == s.pending.end()) {
            it = s.pending.emplace(trace_id, Pending{}).first;
            it->second.first_ms = now_ms;
            s.order.emplace_back(now_ms, trace_id);
        }
        it->second.bytes += piece.bytes;
        bytes_ += piece.bytes;
        if (piece.span && piece.span->parentspanid() == -1) it->second.has_root = true;
        it->second.pieces.push_back(std::move(piece));
        if (it->second.has_root && trace_is_complete(it->second.pieces)) out.push_back(take(s, trace_id, false));
    }
    // Over the memory bound: convert the oldest waiting traces early, shard by shard.
    for (size_t i = 0; i < kShards && bytes_.load() > opt_.max_bytes; ++i) {
        Shard &victim = shards_[(std::hash<std::string>{}(trace_id) + i) % kShards];
        std::lock_guard<std::mutex> g(victim.mu);
        while (bytes_.load() > opt_.max_bytes && !victim.order.empty()) {
            std::string id = std::move(victim.order.front().second);
            victim.order.pop_front();
            if (victim.pending.count(id)) out.push_back(take(victim, id, true));
        }
    }
    return out;
}

std::vector<ReadyTrace> Assembler::expire(int64_t now_ms) {
    std::vector<ReadyTrace> out;
    for (auto &s : shards_) {
        std::lock_guard<std::mutex> g(s.mu);
        while (!s.order.empty() && s.order.front().first + int64_t(opt_.wait_ms) <= now_ms) {
            std::string id = std::move(s.order.front().second);
            s.order.pop_front();
            auto it = s.pending.find(id);
            // An id re-queued after conversion carries a later first_ms; only expire the
            // entry this queue slot was made for.
            if (it != s.pending.end() && it->second.first_ms + int64_t(opt_.wait_ms) <= now_ms)
                out.push_back(take(s, id, true));
        }
        while (!s.remembered_order.empty() && s.remembered_order.front().first + 2 * int64_t(opt_.wait_ms) <= now_ms) {
            auto it = s.remembered.find(s.remembered_order.front().second);
            if (it != s.remembered.end() && it->second.at_ms == s.remembered_order.front().first)
                s.remembered.erase(it);
            s.remembered_order.pop_front();
        }
    }
    return out;
}

std::vector<ReadyTrace> Assembler::drain() {
    std::vector<ReadyTrace> out;
    for (auto &s : shards_) {
        std::lock_guard<std::mutex> g(s.mu);
        std::vector<std::string> ids;
        for (auto &kv : s.pending) ids.push_back(kv.first);
        for (auto &id : ids) out.push_back(take(s, id, true));
        s.order.clear();
    }
    return out;
}

void Assembler::remember(const std::string &trace_id, std::shared_ptr<const LinkIndex> index, int64_t now_ms) {
    Shard &s = shard_of(trace_id);
    std::lock_guard<std::mutex> g(s.mu);
    auto &slot = s.remembered[trace_id];
    if (slot.index && index) {
        // Merge with what an earlier conversion of the same trace remembered.
        auto merged = std::make_shared<LinkIndex>(*slot.index);
        for (auto &kv : index->exit_event_by_next_span) merged->exit_event_by_next_span[kv.first] = kv.second;
        for (auto &kv : index->async_owner) merged->async_owner[kv.first] = kv.second;
        for (auto &kv : index->span_times_ms) merged->span_times_ms[kv.first] = kv.second;
        slot.index = std::move(merged);
    } else {
        slot.index = std::move(index);
    }
    slot.at_ms = now_ms;
    s.remembered_order.emplace_back(now_ms, trace_id);
    size_t cap = opt_.remembered_traces / kShards + 1;
    while (s.remembered.size() > cap && !s.remembered_order.empty()) {
        auto it = s.remembered.find(s.remembered_order.front().second);
        if (it != s.remembered.end() && it->second.at_ms == s.remembered_order.front().first) s.remembered.erase(it);
        s.remembered_order.pop_front();
    }
}

uint64_t Assembler::pending_bytes() const { return bytes_.load(); }

size_t Assembler::pending_traces() const {
    size_t n = 0;
    for (auto &s : shards_) {
        std::lock_guard<std::mutex> g(s.mu);
        n += s.pending.size();
    }
    return n;
}

} // namespace trib::pinpoint
