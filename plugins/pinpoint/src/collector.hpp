// The protocol-independent half of the input: takes decoded Pinpoint messages with their
// call headers, keeps metadata, assembles traces, filters and emits points. The gRPC
// server, the durable queue's replay, the tests and the fuzz target all drive this.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <tributary/plugin.hpp>

#include "assembler.hpp"
#include "config.hpp"
#include "filters.hpp"
#include "metadata.hpp"
#include "trace_builder.hpp"
#include "v1/Stat.pb.h"

namespace trib::pinpoint {

// What a call answers; maps 1:1 onto gRPC codes.
struct Outcome {
    enum Code { ok, invalid_argument, resource_exhausted, unimplemented, permission_denied } code = ok;
    std::string message;
    // RESOURCE_EXHAUSTED only: the message was taken apart anyway (its points wait in the
    // retry backlog), so it must not be handed in again.
    bool consumed = false;
    // RESOURCE_EXHAUSTED only: the host refused points (its bus is full), not this input's
    // own bound; a stream may wait for the host (Collector::host_ready) instead of failing.
    bool host_busy = false;
    static Outcome Ok() { return {}; }
    static Outcome Invalid(std::string m) { return {invalid_argument, std::move(m)}; }
    static Outcome Exhausted(std::string m) { return {resource_exhausted, std::move(m)}; }
    static Outcome HostBusy() {
        Outcome o{resource_exhausted, "collector is applying backpressure; retry later"};
        o.host_busy = true;
        return o;
    }
    static Outcome Denied(std::string m) { return {permission_denied, std::move(m)}; }
};

// The RPCs whose payload the collector handles (also the durable queue's record kinds).
enum class MessageKind : uint8_t {
    span_message = 1,
    span_batch = 2,
    stat_message = 3,
    agent_info = 4,
    api_meta = 5,
    sql_meta = 6,
    sql_uid_meta = 7,
    string_meta = 8,
    exception_meta = 9,
};

class Collector {
  public:
    using EmitFn = std::function<trib_status(const std::vector<trib::Point> &)>;
    using LogFn = std::function<void(trib_log_level, const std::string &)>;
    using CounterFn = std::function<void(std::string_view, double)>;
    using ClockFn = std::function<int64_t()>; // epoch ms

    Collector(const Config &cfg, MetadataStore &meta, EmitFn emit, LogFn log, CounterFn counter,
              ClockFn clock = nullptr);

    // Parses and handles one message of `kind`. Never throws for bad client data.
    // `source` names the durable-queue record the message came from (offset + 1, 0 = none):
    // such records stay "unfinished" until every point made from them was accepted.
    Outcome handle(MessageKind kind, std::string_view bytes, const std::shared_ptr<const CallHeaders> &headers,
                   uint64_t source = 0);
    // The smallest source still waiting in the assembler or the retry backlog; 0 = none.
    uint64_t oldest_unfinished_source() const;

    // Timer: converts traces whose wait ran out and retries refused emits.
    void tick();
    // Shutdown: converts everything still waiting.
    void flush_all();

    // Whether the host refused points that still wait for a retry.
    bool backlogged() const;
    // Hands the refused points to the host again; true once none wait (any thread).
    bool host_ready() { return retry_backlog(); }
    // What the input holds for received spans, counted against trace_memory_mb: waiting
    // pieces, messages being converted and points the host has not taken yet.
    uint64_t held_bytes() const;
    // The retry backlog survives a clean restart: written at stop, emitted first at start.
    void save_backlog(const std::string &path);
    void load_backlog(const std::string &path);
    const Assembler &assembler() const { return assembler_; }

  private:
    // `owner` keeps `m` alive; pieces alias into it instead of copying the span.
    Outcome on_span(const std::shared_ptr<const void> &owner, const v1::PSpanMessage &m,
                    const std::shared_ptr<const CallHeaders> &h, size_t bytes, uint64_t source);
    Outcome check_span_limits(const v1::PSpanMessage &m) const;
    Outcome admit_span(size_t wire_bytes) const;
    Outcome emit_ready(std::vector<ReadyTrace> ready);
    // `points` are moved into the retry backlog only when the host refuses them; otherwise
    // the caller keeps them (the host copied them) to write the next trace over.
    Outcome emit_points(std::vector<trib::Point> &points, std::vector<uint64_t> sources = {});
    void pin(uint64_t source);
    void unpin(const std::vector<uint64_t> &sources);
    bool retry_backlog();
    int64_t now() const;

    const Config &cfg_;
    const uint64_t budget_bytes_; // trace_memory_mb
    MetadataStore &meta_;
    EmitFn emit_;
    LogFn log_;
    CounterFn counter_;
    ClockFn clock_;
    Assembler assembler_;
    TraceFilter filter_;
    BuildOptions build_opt_;

    mutable std::mutex backlog_mu_;
    struct Refused {
        std::vector<trib::Point> points;
        std::vector<uint64_t> sources;
        uint64_t bytes = 0;
    };
    std::deque<Refused> backlog_; // refused by the host, retried on tick
    size_t backlog_points_ = 0;
    std::atomic<uint64_t> backlog_bytes_{0};
    // Messages being parsed and converted right now, with the points made from them until
    // the host took them (see held_bytes).
    std::atomic<uint64_t> converting_bytes_{0};

    mutable std::mutex pins_mu_;
    std::multiset<uint64_t> pins_;
};

} // namespace trib::pinpoint
