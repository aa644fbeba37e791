// Groups spans and span chunks by transaction until a trace is complete enough to convert,
// within a time and memory bound.
//
// A trace is ready when its root span (parentSpanId = -1) is present and every piece it
// references is too: each event's nextSpanId names a span we hold, each asyncEvent has a
// chunk with that localAsyncId, and each non-root span's parent span is present. Until
// then pieces wait at most `wait_ms` (then what is there is converted, standalone pieces
// included). When the waiting pieces exceed `max_bytes`, the oldest traces are converted
// early. Pieces of a trace that was already converted are converted at once, linked
// through what the earlier conversion remembered (LinkIndex).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "v1/Span.pb.h"

namespace trib::pinpoint {

// The gRPC metadata of the call a piece arrived on.
struct CallHeaders {
    std::string agent_id;
    std::string application_name;
    std::string agent_name;
    int64_t agent_start_time = 0;
};

// What finds a message's trace without building its text id: the transaction's two
// integers and a 128-bit hash of its agent id (same fallbacks as trace_id_of). The hash is
// seeded per process, so a client cannot craft an agent id that lands in another's trace.
struct TraceKey {
    uint64_t agent_lo = 0, agent_hi = 0;
    int64_t start = 0, sequence = 0;
    bool operator==(const TraceKey &) const = default;
};
struct TraceKeyHash {
    size_t operator()(const TraceKey &k) const;
};

struct SpanPiece {
    std::shared_ptr<const v1::PSpan> span; // one of span / chunk is set
    std::shared_ptr<const v1::PSpanChunk> chunk;
    std::shared_ptr<const CallHeaders> headers;
    int64_t received_ms = 0;
    size_t bytes = 0;
    uint64_t source = 0; // durable-queue record it came from (offset + 1); 0 = none
};

// What a converted trace tells pieces that arrive after it.
struct LinkIndex {
    std::unordered_map<int64_t, int64_t> exit_event_by_next_span; // callee spanId -> calling event id
    std::map<std::pair<int64_t, int32_t>, int64_t> async_owner;   // (spanId, asyncId) -> event id
    std::map<int64_t, std::pair<int64_t, int64_t>> span_times_ms; // spanId -> start, end
};

struct ReadyTrace {
    TraceKey key;
    std::string trace_id;
    std::vector<SpanPiece> pieces;
    std::shared_ptr<const LinkIndex> earlier; // null unless part of the trace was converted before
    bool expired = false;                     // converted because the wait ran out
};

// `agentId^agentStartTime^sequence`; the agent id falls back to the agentid header, then
// the applicationname header. Built once per converted trace, not per message.
std::string trace_id_of(const v1::PTransactionId *tx, const CallHeaders &headers);

TraceKey trace_key_of(const v1::PTransactionId *tx, const CallHeaders &headers);
// The text id of the trace a piece belongs to.
std::string trace_id_of(const SpanPiece &piece);

class Assembler {
  public:
    struct Options {
        uint64_t wait_ms = 30000;
        uint64_t max_bytes = 128ull << 20;
        size_t remembered_traces = 200000;
        uint64_t remembered_max_bytes = 32ull << 20; // what converted traces remember, in all
    };
    explicit Assembler(Options o);

    // Adds one piece; returns the traces that became ready (this one, or old ones pushed
    // out by the memory bound).
    std::vector<ReadyTrace> add(const TraceKey &key, SpanPiece piece, int64_t now_ms);
    // Traces whose wait ran out.
    std::vector<ReadyTrace> expire(int64_t now_ms);
    // Everything still waiting (at shutdown).
    std::vector<ReadyTrace> drain();
    // Records how a converted trace linked, for its late pieces.
    void remember(const TraceKey &key, std::shared_ptr<const LinkIndex> index, int64_t now_ms);

    uint64_t pending_bytes() const;
    uint64_t remembered_bytes() const;
    size_t pending_traces() const;

  private:
    struct Pending {
        std::vector<SpanPiece> pieces;
        int64_t first_ms = 0;
        uint64_t bytes = 0;
        bool has_root = false; // completeness is only worth checking once the root is here
    };
    struct Remembered {
        std::shared_ptr<const LinkIndex> index;
        int64_t at_ms = 0;
        uint64_t bytes = 0;
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<TraceKey, Pending, TraceKeyHash> pending;
        std::deque<std::pair<int64_t, TraceKey>> order; // arrival order, for expiry/eviction
        std::unordered_map<TraceKey, Remembered, TraceKeyHash> remembered;
        std::deque<std::pair<int64_t, TraceKey>> remembered_order;
        uint64_t remembered_bytes = 0;
    };
    // Drops the oldest remembered link index of `s` (its queue slot, if still current).
    static void forget_oldest(Shard &s);
    static constexpr size_t kShards = 16;
    Shard &shard_of(const TraceKey &key);
    ReadyTrace take(Shard &s, const TraceKey &key, bool expired);
    std::shared_ptr<const LinkIndex> earlier_of(Shard &s, const TraceKey &key) const;

    Options opt_;
    Shard shards_[kShards];
    std::atomic<uint64_t> bytes_{0};
};

// Whether the pieces form a trace complete enough to convert (see the header comment).
bool trace_is_complete(const std::vector<SpanPiece> &pieces);

} // namespace trib::pinpoint
