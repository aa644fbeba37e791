#include "collector.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <google/protobuf/arena.h>

#include <nlohmann/json.hpp>

#include "tributary/record_file.hpp"
#include "stats.hpp"

namespace trib::pinpoint {
namespace {

// Points the host refused, kept for the retry timer. A span point with its message is
// ~1–2 KB, so 200,000 held several hundred MB under overload (bench/ memory run); the
// bus already holds up to its ceiling, so a short backlog is enough to ride out bursts.
constexpr size_t kMaxBacklogPoints = 20000;

template <class M>
bool parse(M &m, std::string_view bytes) {
    return bytes.size() <= size_t(INT32_MAX) && m.ParseFromArray(bytes.data(), int(bytes.size()));
}

// A received span message parsed into an arena: its strings, events and annotations come
// out of a few arena blocks (the first one inline here) instead of a malloc each, and are
// freed at once when the last piece pointing into it goes.
template <class M>
struct ArenaParsed {
    google::protobuf::Arena arena;
    M *message;
    explicit ArenaParsed(size_t wire_bytes)
        : arena(options(wire_bytes)), message(google::protobuf::Arena::CreateMessage<M>(&arena)) {}
    static google::protobuf::ArenaOptions options(size_t wire_bytes) {
        // A parsed span takes about 4-8 times its wire size: one block for most messages.
        google::protobuf::ArenaOptions o;
        o.start_block_size = std::clamp<size_t>(wire_bytes * 8, 1024, 1 << 20);
        o.max_block_size = std::max<size_t>(o.start_block_size, 1 << 20);
        return o;
    }
    // What the parse really took, for trace_memory_mb.
    size_t bytes() { return sizeof(*this) + size_t(arena.SpaceAllocated()); }
};

// What a point takes in memory, roughly (strings, their headers, the vectors' slots).
uint64_t point_bytes(const trib::Point &p) {
    uint64_t n = sizeof(trib::Point) + p.measurement.size() + p.category.size();
    for (auto &kv : p.tags) n += 2 * sizeof(std::string) + kv.first.size() + kv.second.size();
    for (auto &f : p.fields) n += sizeof(trib::Field) + f.key.size() + f.s.size();
    return n;
}

uint64_t points_bytes(const std::vector<trib::Point> &points) {
    uint64_t n = 0;
    for (auto &p : points) n += point_bytes(p);
    return n;
}

// A parsed message takes about this much more than its wire bytes (arena, repeated fields).
constexpr uint64_t kParsedPerWireByte = 4;

class Charge;
thread_local Charge *tls_charge = nullptr; // the handle() call running on this thread

// Counts bytes into `counter` for the life of one handle() call on this thread; emit_ready
// adds the points it makes through tls_charge.
class Charge {
  public:
    Charge(std::atomic<uint64_t> &counter, uint64_t bytes) : counter_(counter) {
        add(bytes);
        tls_charge = this;
    }
    ~Charge() {
        tls_charge = nullptr;
        counter_ -= bytes_;
    }
    Charge(const Charge &) = delete;
    Charge &operator=(const Charge &) = delete;
    void add(uint64_t n) {
        counter_ += n;
        bytes_ += n;
    }

  private:
    std::atomic<uint64_t> &counter_;
    uint64_t bytes_ = 0;
};
// Points this thread emitted last, kept for build_trace to write over (see PointWriter).
thread_local std::vector<trib::Point> tls_recycled_points;
constexpr size_t kRecycledPointsMax = 256;
constexpr uint64_t kRecycledBytesMax = 1 << 20;

std::string summarize_exceptions(const v1::PExceptionMetaData &m) {
    std::string out;
    for (auto &e : m.exceptions()) {
        if (!out.empty()) out += "; ";
        out += e.exceptionclassname();
        if (!e.exceptionmessage().empty()) out += ": " + e.exceptionmessage();
        if (out.size() > 4096) break;
    }
    return out;
}

} // namespace

Collector::Collector(const Config &cfg, MetadataStore &meta, EmitFn emit, LogFn log, CounterFn counter, ClockFn clock)
    : cfg_(cfg), budget_bytes_(cfg.trace_memory_mb << 20), meta_(meta), emit_(std::move(emit)), log_(std::move(log)),
      counter_(std::move(counter)),
      clock_(std::move(clock)), // Waiting pieces get three quarters of trace_memory_mb (past that the oldest traces are
      // converted early); the rest is headroom for conversions and refused points. What
      // converted traces remember for their late pieces is bounded apart, by a quarter.
      assembler_(Assembler::Options{cfg.trace_wait_ms, (cfg.trace_memory_mb << 20) / 4 * 3, 200000,
                                    (cfg.trace_memory_mb << 20) / 4}),
      filter_(cfg) {
    build_opt_.del_message = cfg.del_message;
}

int64_t Collector::now() const {
    if (clock_) return clock_();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool Collector::backlogged() const {
    std::lock_guard<std::mutex> g(backlog_mu_);
    return !backlog_.empty();
}

void Collector::pin(uint64_t source) {
    if (!source) return;
    std::lock_guard<std::mutex> g(pins_mu_);
    pins_.insert(source);
}

void Collector::unpin(const std::vector<uint64_t> &sources) {
    if (sources.empty()) return;
    std::lock_guard<std::mutex> g(pins_mu_);
    for (uint64_t s : sources)
        if (auto it = pins_.find(s); it != pins_.end()) pins_.erase(it);
}

uint64_t Collector::oldest_unfinished_source() const {
    std::lock_guard<std::mutex> g(pins_mu_);
    return pins_.empty() ? 0 : *pins_.begin();
}

uint64_t Collector::held_bytes() const {
    return assembler_.pending_bytes() + converting_bytes_.load() + backlog_bytes_.load();
}

// A flood must not grow memory: past trace_memory_mb the client is told to retry. A lone
// message is always taken (the bound is trace_memory_mb plus one message), so one larger
// than the budget is converted when nothing else is.
Outcome Collector::admit_span(size_t wire_bytes) const {
    const uint64_t others = converting_bytes_.load() + backlog_bytes_.load();
    const uint64_t want = uint64_t(wire_bytes) * kParsedPerWireByte;
    if (others == 0 || assembler_.pending_bytes() + others + want <= budget_bytes_) return Outcome::Ok();
    counter_("messages_refused_memory", 1);
    return Outcome::Exhausted("the pinpoint input holds " + std::to_string(held_bytes() >> 20) +
                              " MiB of received spans (trace_memory_mb = " + std::to_string(cfg_.trace_memory_mb) +
                              "); retry later");
}

bool Collector::retry_backlog() {
    std::lock_guard<std::mutex> g(backlog_mu_);
    while (!backlog_.empty()) {
        if (emit_(backlog_.front().points) == TRIB_BACKPRESSURE) return false;
        backlog_points_ -= backlog_.front().points.size();
        backlog_bytes_ -= backlog_.front().bytes;
        unpin(backlog_.front().sources);
        backlog_.pop_front();
    }
    return true;
}

Outcome Collector::emit_points(std::vector<trib::Point> &points, std::vector<uint64_t> sources) {
    if (points.empty()) {
        unpin(sources);
        return Outcome::Ok();
    }
    trib_status st = emit_(points);
    if (st == TRIB_OK) {
        counter_("points_emitted", double(points.size()));
        unpin(sources);
        return Outcome::Ok();
    }
    // The same refusal mapping as every input (trib::refusal_of): transient → the client
    // retries (RESOURCE_EXHAUSTED), permanent (larger than the bus ceiling) → INVALID_ARGUMENT.
    if (trib::is_transient(trib::refusal_of(st))) {
        // The points are ours now (their messages were taken apart); keep them for the
        // timer's retry and tell this client to slow down.
        std::lock_guard<std::mutex> g(backlog_mu_);
        if (backlog_points_ + points.size() <= kMaxBacklogPoints) {
            backlog_points_ += points.size();
            const uint64_t bytes = points_bytes(points);
            backlog_bytes_ += bytes;
            backlog_.push_back(Refused{std::move(points), std::move(sources), bytes});
            points.clear();
        } else {
            unpin(sources);
            counter_("points_dropped", double(points.size()));
            log_(TRIB_LOG_WARN, "pinpoint: host backpressure and retry backlog full; dropped " +
                                    std::to_string(points.size()) + " points");
        }
        Outcome o = Outcome::HostBusy();
        o.consumed = true;
        return o;
    }
    unpin(sources);
    counter_("points_dropped", double(points.size()));
    log_(TRIB_LOG_ERROR, "pinpoint: host refused " + std::to_string(points.size()) + " points for good (status " +
                             std::to_string(int(st)) + ")");
    return Outcome::Invalid(trib::refusal_of(st) == trib::Refusal::too_large
                                ? "the data is larger than the collector accepts at once (bus memory ceiling)"
                                : "the collector refused the data (status " + std::to_string(int(st)) + ")");
}

Outcome Collector::emit_ready(std::vector<ReadyTrace> ready) {
    Outcome result = Outcome::Ok();
    int64_t t = now();
    for (auto &r : ready) {
        if (r.pieces.empty()) continue;
        std::vector<uint64_t> sources;
        for (auto &p : r.pieces)
            if (p.source) sources.push_back(p.source);
        BuiltTrace built = build_trace(r, meta_, build_opt_, &tls_recycled_points);
        assembler_.remember(r.key, built.index, t);
        if (r.expired) counter_("traces_incomplete", 1);
        FilterVerdict v = filter_.apply(built, r.trace_id, t);
        if (v != FilterVerdict::keep) {
            unpin(sources);
            counter_(v == FilterVerdict::closed_resource ? "traces_closed_resource" : "traces_sampled_out", 1);
            continue;
        }
        counter_("traces_emitted", 1);
        if (tls_charge) tls_charge->add(points_bytes(built.points));
        Outcome o = emit_points(built.points, std::move(sources));
        // Taken by the host (or moved to the backlog): the next trace on this thread writes
        // over these points' strings instead of allocating new ones. Only small sets are
        // kept, so what a thread keeps stays far below trace_memory_mb.
        if (built.points.size() <= kRecycledPointsMax && points_bytes(built.points) <= kRecycledBytesMax)
            tls_recycled_points = std::move(built.points);
        if (o.code != Outcome::ok) result = o;
    }
    return result;
}

Outcome Collector::check_span_limits(const v1::PSpanMessage &m) const {
    int events = m.has_span() ? m.span().spanevent_size() : m.has_spanchunk() ? m.spanchunk().spanevent_size() : 0;
    if (uint64_t(events) > cfg_.max_span_events)
        return Outcome::Invalid("span carries " + std::to_string(events) + " events; the limit is " +
                                std::to_string(cfg_.max_span_events) + " (max_span_events)");
    if (m.has_span() && m.span().version() != 1)
        return Outcome::Invalid("unsupported span version " + std::to_string(m.span().version()) + " (expected 1)");
    if (m.has_spanchunk() && m.spanchunk().version() != 1)
        return Outcome::Invalid("unsupported span chunk version " + std::to_string(m.spanchunk().version()) +
                                " (expected 1)");
    if (!m.has_span() && !m.has_spanchunk()) return Outcome::Invalid("PSpanMessage holds neither span nor spanChunk");
    return Outcome::Ok();
}

Outcome Collector::on_span(const std::shared_ptr<const void> &owner, const v1::PSpanMessage &m,
                           const std::shared_ptr<const CallHeaders> &h, size_t bytes, uint64_t source) {
    if (Outcome o = check_span_limits(m); o.code != Outcome::ok) return o;
    const int64_t t = now();
    SpanPiece piece;
    piece.headers = h;
    piece.received_ms = t;
    piece.source = source;
    pin(source);
    piece.bytes = bytes + sizeof(SpanPiece);
    const v1::PTransactionId *tx = nullptr;
    if (m.has_span()) {
        std::shared_ptr<const v1::PSpan> s(owner, &m.span());
        if (s->has_transactionid()) tx = &s->transactionid();
        TraceKey key = trace_key_of(tx, *h);
        piece.span = std::move(s);
        counter_("spans_received", 1);
        return emit_ready(assembler_.add(key, std::move(piece), t));
    }
    std::shared_ptr<const v1::PSpanChunk> c(owner, &m.spanchunk());
    if (c->has_transactionid()) tx = &c->transactionid();
    TraceKey key = trace_key_of(tx, *h);
    piece.chunk = std::move(c);
    counter_("span_chunks_received", 1);
    return emit_ready(assembler_.add(key, std::move(piece), t));
}

Outcome Collector::handle(MessageKind kind, std::string_view bytes, const std::shared_ptr<const CallHeaders> &h,
                          uint64_t source) {
    try {
        switch (kind) {
        case MessageKind::span_message: {
            if (!retry_backlog()) return Outcome::HostBusy();
            if (Outcome o = admit_span(bytes.size()); o.code != Outcome::ok) return o;
            Charge charge(converting_bytes_, uint64_t(bytes.size()) * kParsedPerWireByte);
            auto parsed = std::make_shared<ArenaParsed<v1::PSpanMessage>>(bytes.size());
            if (!parse(*parsed->message, bytes))
                return Outcome::Invalid("malformed PSpanMessage (" + std::to_string(bytes.size()) + " bytes)");
            return on_span(parsed, *parsed->message, h, parsed->bytes(), source);
        }
        case MessageKind::span_batch: {
            if (!retry_backlog()) return Outcome::HostBusy();
            if (Outcome o = admit_span(bytes.size()); o.code != Outcome::ok) return o;
            Charge charge(converting_bytes_, uint64_t(bytes.size()) * kParsedPerWireByte);
            auto parsed = std::make_shared<ArenaParsed<v1::PSpanMessageBatch>>(bytes.size());
            const v1::PSpanMessageBatch &b = *parsed->message;
            if (!parse(*parsed->message, bytes))
                return Outcome::Invalid("malformed PSpanMessageBatch (" + std::to_string(bytes.size()) + " bytes)");
            for (auto &m : b.span())
                if (Outcome o = check_span_limits(m); o.code != Outcome::ok) return o;
            Outcome result;
            for (auto &m : b.span()) {
                Outcome o = on_span(parsed, m, h, size_t(m.ByteSizeLong()) * kParsedPerWireByte, source);
                if (o.code != Outcome::ok) result = o;
            }
            return result;
        }
        case MessageKind::stat_message: {
            v1::PStatMessage m;
            if (!parse(m, bytes))
                return Outcome::Invalid("malformed PStatMessage (" + std::to_string(bytes.size()) + " bytes)");
            if (!retry_backlog()) return Outcome::HostBusy();
            pin(source);
            std::vector<trib::Point> points = stat_points(m, *h, meta_);
            return emit_points(points, source ? std::vector<uint64_t>{source} : std::vector<uint64_t>{});
        }
        case MessageKind::agent_info: {
            v1::PAgentInfo m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PAgentInfo");
            AgentInfo a;
            a.hostname = m.hostname();
            a.ip = m.ip();
            a.ports = m.ports();
            a.pid = m.pid();
            a.agent_version = m.agentversion();
            a.service_type = m.servicetype();
            a.container = m.container();
            meta_.put_agent_info(h->agent_id, std::move(a));
            return Outcome::Ok();
        }
        case MessageKind::api_meta: {
            v1::PApiMetaData m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PApiMetaData");
            if (!meta_.put_api(h->agent_id, m.apiid(), ApiInfo{m.apiinfo(), m.line(), m.type(), m.location()}))
                return Outcome::Exhausted("metadata store is full (metadata_max_entries)");
            return Outcome::Ok();
        }
        case MessageKind::sql_meta: {
            v1::PSqlMetaData m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PSqlMetaData");
            if (!meta_.put_sql(h->agent_id, m.sqlid(), m.sql()))
                return Outcome::Exhausted("metadata store is full (metadata_max_entries)");
            return Outcome::Ok();
        }
        case MessageKind::sql_uid_meta: {
            v1::PSqlUidMetaData m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PSqlUidMetaData");
            if (!meta_.put_sql_uid(h->agent_id, m.sqluid(), m.sql()))
                return Outcome::Exhausted("metadata store is full (metadata_max_entries)");
            return Outcome::Ok();
        }
        case MessageKind::string_meta: {
            v1::PStringMetaData m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PStringMetaData");
            if (!meta_.put_string(h->agent_id, m.stringid(), m.stringvalue()))
                return Outcome::Exhausted("metadata store is full (metadata_max_entries)");
            return Outcome::Ok();
        }
        case MessageKind::exception_meta: {
            v1::PExceptionMetaData m;
            if (!parse(m, bytes)) return Outcome::Invalid("malformed PExceptionMetaData");
            std::string key = trace_id_of(m.has_transactionid() ? &m.transactionid() : nullptr, *h) + "/" +
                              std::to_string(m.spanid());
            if (!meta_.put_exception(h->agent_id, key, summarize_exceptions(m)))
                return Outcome::Exhausted("metadata store is full (metadata_max_entries)");
            return Outcome::Ok();
        }
        }
        return Outcome{Outcome::unimplemented, "unknown message kind"};
    } catch (const std::bad_alloc &) {
        return Outcome::Exhausted("out of memory while handling the message");
    }
}

void Collector::save_backlog(const std::string &path) {
    std::lock_guard<std::mutex> g(backlog_mu_);
    if (backlog_.empty()) {
        std::remove(path.c_str());
        return;
    }
    record_file::RecordWriter w(record_file::Checksum::crc32_of_payload);
    w.open(path + ".tmp", true);
    for (auto &refused : backlog_) {
        nlohmann::json pts = nlohmann::json::array();
        for (auto &p : refused.points) {
            nlohmann::json tags = nlohmann::json::array(), fields = nlohmann::json::array();
            for (auto &t : p.tags) tags.push_back({t.first, t.second});
            for (auto &f : p.fields) {
                nlohmann::json v;
                switch (f.type) {
                case TRIB_FIELD_INT: v = f.i; break;
                case TRIB_FIELD_UINT: v = f.u; break;
                case TRIB_FIELD_FLOAT: v = f.f; break;
                case TRIB_FIELD_BOOL: v = f.b; break;
                default: v = f.s; break;
                }
                fields.push_back({f.key, int(f.type), v});
            }
            pts.push_back({p.measurement, p.category, p.time_ns, tags, fields});
        }
        auto cbor = nlohmann::json::to_cbor(pts);
        w.append(std::string(cbor.begin(), cbor.end()));
    }
    w.sync();
    w.close();
    std::rename((path + ".tmp").c_str(), path.c_str());
    for (auto &refused : backlog_) unpin(refused.sources); // durable in the file now
    log_(TRIB_LOG_WARN, "pinpoint: host still refuses points at stop; kept " + std::to_string(backlog_points_) +
                            " points in " + path + " for the next start");
}

void Collector::load_backlog(const std::string &path) {
    size_t loaded = 0;
    record_file::read_records(path, 0, record_file::Checksum::crc32_of_payload, [&](std::string_view rec, uint64_t) {
        nlohmann::json pts = nlohmann::json::from_cbor(rec, true, false);
        if (!pts.is_array()) return;
        std::vector<trib::Point> batch;
        try {
            for (auto &j : pts) {
                trib::Point p(j.at(0).get<std::string>(), j.at(1).get<std::string>(), j.at(2).get<int64_t>());
                for (auto &t : j.at(3)) p.tags.emplace_back(t.at(0).get<std::string>(), t.at(1).get<std::string>());
                for (auto &f : j.at(4)) {
                    std::string k = f.at(0).get<std::string>();
                    switch (f.at(1).get<int>()) {
                    case TRIB_FIELD_INT: p.fields.push_back(trib::Field::Int(k, f.at(2).get<int64_t>())); break;
                    case TRIB_FIELD_UINT: p.fields.push_back(trib::Field::Uint(k, f.at(2).get<uint64_t>())); break;
                    case TRIB_FIELD_FLOAT: p.fields.push_back(trib::Field::Float(k, f.at(2).get<double>())); break;
                    case TRIB_FIELD_BOOL: p.fields.push_back(trib::Field::Bool(k, f.at(2).get<bool>())); break;
                    case TRIB_FIELD_BYTES: p.fields.push_back(trib::Field::Bytes(k, f.at(2).get<std::string>())); break;
                    default: p.fields.push_back(trib::Field::String(k, f.at(2).get<std::string>())); break;
                    }
                }
                batch.push_back(std::move(p));
            }
        } catch (const nlohmann::json::exception &) {
            return; // a damaged batch is skipped
        }
        loaded += batch.size();
        std::lock_guard<std::mutex> g(backlog_mu_);
        backlog_points_ += batch.size();
        const uint64_t bytes = points_bytes(batch);
        backlog_bytes_ += bytes;
        backlog_.push_back(Refused{std::move(batch), {}, bytes});
    });
    std::remove(path.c_str());
    if (loaded)
        log_(TRIB_LOG_INFO, "pinpoint: " + std::to_string(loaded) + " points from the last run wait for the host");
}

void Collector::tick() {
    retry_backlog();
    emit_ready(assembler_.expire(now()));
}

void Collector::flush_all() {
    retry_backlog();
    emit_ready(assembler_.drain());
}

} // namespace trib::pinpoint
