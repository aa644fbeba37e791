#include "assembler.hpp"

#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <string_view>
#include <unordered_set>

namespace trib::pinpoint {
namespace {

std::string_view agent_of(const v1::PTransactionId *tx, const CallHeaders &h) {
    if (tx && !tx->agentid().empty()) return tx->agentid();
    if (!h.agent_id.empty()) return h.agent_id;
    if (!h.application_name.empty()) return h.application_name;
    return "unknown-pp-agent";
}

uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

// Two independent seeded hashes of the bytes, 8 at a time (no allocation).
std::pair<uint64_t, uint64_t> hash128(std::string_view s) {
    static const std::pair<uint64_t, uint64_t> seed = [] {
        std::random_device rd;
        return std::make_pair((uint64_t(rd()) << 32) ^ rd(), (uint64_t(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ull);
    }();
    uint64_t a = seed.first ^ s.size(), b = seed.second + s.size() * 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        a = mix64(a ^ w);
        b = mix64(b + w * 0xff51afd7ed558ccdull);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    a = mix64(a ^ tail ^ 0xa0761d6478bd642full);
    b = mix64(b + tail * 0xc4ceb9fe1a85ec53ull);
    return {a, b};
}

const v1::PTransactionId *transaction_of(const SpanPiece &p) {
    if (p.span && p.span->has_transactionid()) return &p.span->transactionid();
    if (p.chunk && p.chunk->has_transactionid()) return &p.chunk->transactionid();
    return nullptr;
}

} // namespace

std::string trace_id_of(const v1::PTransactionId *tx, const CallHeaders &h) {
    std::string_view agent = agent_of(tx, h);
    int64_t start = tx ? tx->agentstarttime() : h.agent_start_time;
    int64_t seq = tx ? tx->sequence() : 0;
    std::string out;
    out.reserve(agent.size() + 42);
    out.append(agent).append(1, '^').append(std::to_string(start)).append(1, '^').append(std::to_string(seq));
    return out;
}

std::string trace_id_of(const SpanPiece &piece) { return trace_id_of(transaction_of(piece), *piece.headers); }

TraceKey trace_key_of(const v1::PTransactionId *tx, const CallHeaders &h) {
    TraceKey k;
    std::tie(k.agent_lo, k.agent_hi) = hash128(agent_of(tx, h));
    k.start = tx ? tx->agentstarttime() : h.agent_start_time;
    k.sequence = tx ? tx->sequence() : 0;
    return k;
}

size_t TraceKeyHash::operator()(const TraceKey &k) const {
    return size_t(mix64(k.agent_lo ^ mix64(uint64_t(k.sequence) + mix64(uint64_t(k.start)))));
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

Assembler::Shard &Assembler::shard_of(const TraceKey &key) {
    return shards_[(key.agent_hi ^ uint64_t(key.sequence)) % kShards];
}

std::shared_ptr<const LinkIndex> Assembler::earlier_of(Shard &s, const TraceKey &key) const {
    auto it = s.remembered.find(key);
    return it == s.remembered.end() ? nullptr : it->second.index;
}

ReadyTrace Assembler::take(Shard &s, const TraceKey &key, bool expired) {
    ReadyTrace r;
    auto it = s.pending.find(key);
    if (it == s.pending.end()) return r;
    r.key = key;
    r.pieces = std::move(it->second.pieces);
    if (!r.pieces.empty()) r.trace_id = trace_id_of(r.pieces.front());
    r.expired = expired;
    r.earlier = earlier_of(s, key);
    bytes_ -= it->second.bytes;
    s.pending.erase(it);
    return r;
}

std::vector<ReadyTrace> Assembler::add(const TraceKey &key, SpanPiece piece, int64_t now_ms) {
    std::vector<ReadyTrace> out;
    Shard &s = shard_of(key);
    {
        std::lock_guard<std::mutex> g(s.mu);
        auto earlier = earlier_of(s, key);
        auto it = s.pending.find(key);
        if (earlier && it == s.pending.end()) {
            // The trace was converted already: this late piece goes out at once.
            ReadyTrace r;
            r.key = key;
            r.trace_id = trace_id_of(piece);
            r.pieces.push_back(std::move(piece));
            r.earlier = std::move(earlier);
            out.push_back(std::move(r));
            return out;
        }
        if (it == s.pending.end()) {
            it = s.pending.emplace(key, Pending{}).first;
            it->second.first_ms = now_ms;
            s.order.emplace_back(now_ms, key);
        }
        it->second.bytes += piece.bytes;
        bytes_ += piece.bytes;
        if (piece.span && piece.span->parentspanid() == -1) it->second.has_root = true;
        it->second.pieces.push_back(std::move(piece));
        if (it->second.has_root && trace_is_complete(it->second.pieces)) out.push_back(take(s, key, false));
    }
    // Over the memory bound: convert the oldest waiting traces early, shard by shard.
    for (size_t i = 0; i < kShards && bytes_.load() > opt_.max_bytes; ++i) {
        Shard &victim = shards_[(size_t(&s - shards_) + i) % kShards];
        std::lock_guard<std::mutex> g(victim.mu);
        while (bytes_.load() > opt_.max_bytes && !victim.order.empty()) {
            TraceKey id = victim.order.front().second;
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
            TraceKey id = s.order.front().second;
            s.order.pop_front();
            auto it = s.pending.find(id);
            // An id re-queued after conversion carries a later first_ms; only expire the
            // entry this queue slot was made for.
            if (it != s.pending.end() && it->second.first_ms + int64_t(opt_.wait_ms) <= now_ms)
                out.push_back(take(s, id, true));
        }
        while (!s.remembered_order.empty() && s.remembered_order.front().first + 2 * int64_t(opt_.wait_ms) <= now_ms)
            forget_oldest(s);
    }
    return out;
}

std::vector<ReadyTrace> Assembler::drain() {
    std::vector<ReadyTrace> out;
    for (auto &s : shards_) {
        std::lock_guard<std::mutex> g(s.mu);
        std::vector<TraceKey> ids;
        for (auto &kv : s.pending) ids.push_back(kv.first);
        for (auto &id : ids) out.push_back(take(s, id, true));
        s.order.clear();
    }
    return out;
}

namespace {

// What a remembered link index takes in memory, roughly (nodes, buckets, the map slot).
uint64_t link_index_bytes(const LinkIndex &x) {
    return sizeof(LinkIndex) + 160 + x.exit_event_by_next_span.size() * 32 +
           x.exit_event_by_next_span.bucket_count() * 8 + x.async_owner.size() * 64 + x.span_times_ms.size() * 64;
}

} // namespace

void Assembler::forget_oldest(Shard &s) {
    auto it = s.remembered.find(s.remembered_order.front().second);
    if (it != s.remembered.end() && it->second.at_ms == s.remembered_order.front().first) {
        s.remembered_bytes -= it->second.bytes;
        s.remembered.erase(it);
    }
    s.remembered_order.pop_front();
}

void Assembler::remember(const TraceKey &key, std::shared_ptr<const LinkIndex> index, int64_t now_ms) {
    Shard &s = shard_of(key);
    std::lock_guard<std::mutex> g(s.mu);
    auto &slot = s.remembered[key];
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
    s.remembered_bytes -= slot.bytes;
    slot.bytes = slot.index ? link_index_bytes(*slot.index) : 0;
    s.remembered_bytes += slot.bytes;
    slot.at_ms = now_ms;
    s.remembered_order.emplace_back(now_ms, key);
    // Bounded by count and by memory (a share of trace_memory_mb), oldest first.
    const size_t cap = opt_.remembered_traces / kShards + 1;
    const uint64_t cap_bytes = opt_.remembered_max_bytes / kShards + 1;
    while ((s.remembered.size() > cap || s.remembered_bytes > cap_bytes) && !s.remembered_order.empty())
        forget_oldest(s);
}

uint64_t Assembler::remembered_bytes() const {
    uint64_t n = 0;
    for (auto &s : shards_) {
        std::lock_guard<std::mutex> g(s.mu);
        n += s.remembered_bytes;
    }
    return n;
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
