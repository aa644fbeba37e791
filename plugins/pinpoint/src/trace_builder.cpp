#include "trace_builder.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "codes.hpp"
#include "go_proto_text.hpp"
#include "json_writer.hpp"

namespace trib::pinpoint {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    return h;
}

uint64_t fnv1a(std::string_view s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// Times are clamped to +-4e12 ms (about 127 years around the epoch) so every sum and the
// ns/us conversions below stay inside int64 whatever a client sends.
constexpr int64_t kMaxMs = 4000000000000;
int64_t clamp_ms(int64_t v) { return v < -kMaxMs ? -kMaxMs : v > kMaxMs ? kMaxMs : v; }

struct Node {
    int64_t id = 0;
    int64_t owner_span = 0; // events: the span they belong to
    int32_t async_id = 0;
    std::string parent;      // parent_id as emitted
    int64_t parent_node = 0; // parent id when it may be a node of this trace
    bool parent_is_id = false;
    int64_t start_ms = 0, end_ms = 0;
    const v1::PSpan *span = nullptr;       // entry node
    const v1::PSpanEvent *event = nullptr; // event node
    const v1::PSpanChunk *chunk = nullptr; // the chunk an event came in, if any
    const CallHeaders *headers = nullptr;
    int32_t depth = 1;
    int32_t sort_a = 0, sort_b = 0; // (async sequence, sequence)
};

struct EventSource {
    const google::protobuf::RepeatedPtrField<v1::PSpanEvent> *events;
    int64_t base_ms;
    const v1::PSpanChunk *chunk;
    const CallHeaders *headers;
    int32_t async_seq;
};

// Decodes one delta-encoded event list into nodes (no parents yet).
void decode(const EventSource &src, const std::string &trace_id, int64_t span_id, int32_t async_id,
            std::unordered_set<int64_t> &used_ids, std::vector<Node> &out) {
    std::vector<const v1::PSpanEvent *> evs;
    evs.reserve(src.events->size());
    for (auto &e : *src.events) evs.push_back(&e);
    std::stable_sort(evs.begin(), evs.end(), [](auto *a, auto *b) { return a->sequence() < b->sequence(); });
    int64_t cur = clamp_ms(src.base_ms);
    for (auto *e : evs) {
        Node n;
        cur = clamp_ms(cur + e->startelapsed());
        n.start_ms = cur;
        n.end_ms = clamp_ms(cur + std::max<int64_t>(0, e->endelapsed()));
        n.event = e;
        n.chunk = src.chunk;
        n.headers = src.headers;
        n.owner_span = span_id;
        n.async_id = async_id;
        n.depth = e->depth();
        n.sort_a = src.async_seq;
        n.sort_b = e->sequence();
        int64_t id = event_id(trace_id, span_id, async_id, src.async_seq, e->sequence());
        // Repeated sequence numbers must still give distinct ids.
        for (uint64_t salt = 1; used_ids.count(id); ++salt) id = int64_t(mix(uint64_t(id), salt) >> 1) | 1;
        used_ids.insert(id);
        n.id = id;
        out.push_back(std::move(n));
    }
}

// Assigns depth-based parents over an ordered list; depth 1 hangs under `base`.
void link_depths(std::vector<Node> &nodes, size_t from, size_t to, int64_t base, bool base_is_node,
                 const std::string &base_text) {
    std::stable_sort(nodes.begin() + from, nodes.begin() + to, [](const Node &a, const Node &b) {
        return a.sort_a != b.sort_a ? a.sort_a < b.sort_a : a.sort_b < b.sort_b;
    });
    std::vector<int64_t> stack; // stack[d-1] = latest event at depth d
    int32_t prev_depth = 1;
    for (size_t i = from; i < to; ++i) {
        Node &n = nodes[i];
        int32_t d = n.depth == 0 ? prev_depth : n.depth;
        if (d < 1) d = 1;
        // A depth deeper than anything seen hangs under the deepest event (bounded stack).
        if (size_t(d) > stack.size() + 1) d = int32_t(stack.size() + 1);
        if (d == 1) {
            n.parent_node = base;
            n.parent_is_id = base_is_node;
            n.parent = base_text;
        } else {
            n.parent_node = stack[size_t(d) - 2];
            n.parent_is_id = true;
            n.parent = std::to_string(n.parent_node);
        }
        stack.resize(size_t(d));
        stack[size_t(d) - 1] = n.id;
        prev_depth = d;
        n.depth = d;
    }
}

std::string annotation_text(const v1::PAnnotationValue &v) {
    using V = v1::PAnnotationValue;
    char buf[64];
    switch (v.field_case()) {
    case V::kStringValue: return v.stringvalue();
    case V::kBoolValue: return v.boolvalue() ? "true" : "false";
    case V::kIntValue: return std::to_string(v.intvalue());
    case V::kLongValue: return std::to_string(v.longvalue());
    case V::kShortValue: return std::to_string(v.shortvalue());
    case V::kByteValue: return std::to_string(v.bytevalue());
    case V::kDoubleValue: std::snprintf(buf, sizeof buf, "%.17g", v.doublevalue()); return buf;
    case V::kBinaryValue: {
        static const char *d = "0123456789abcdef";
        std::string out;
        for (unsigned char c : v.binaryvalue()) {
            out.push_back(d[c >> 4]);
            out.push_back(d[c & 15]);
        }
        return out;
    }
    case V::kIntStringValue:
        return v.intstringvalue().has_stringvalue() ? v.intstringvalue().stringvalue().value()
                                                    : std::to_string(v.intstringvalue().intvalue());
    case V::kStringStringValue: {
        std::string s = v.stringstringvalue().stringvalue1().value();
        if (v.stringstringvalue().has_stringvalue2()) s += " " + v.stringstringvalue().stringvalue2().value();
        return s;
    }
    case V::kIntStringStringValue: return v.intstringstringvalue().stringvalue1().value();
    case V::kLongIntIntByteByteStringValue: return v.longintintbytebytestringvalue().stringvalue().value();
    case V::kIntBooleanIntBooleanValue: return std::to_string(v.intbooleanintbooleanvalue().intvalue1());
    case V::kBytesStringStringValue: return v.bytesstringstringvalue().stringvalue1().value();
    default: return {};
    }
}

bool is_http_verb(const std::string &s) {
    static const char *verbs[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"};
    for (auto *v : verbs)
        if (s == v) return true;
    return false;
}

std::string one_line(std::string s) {
    for (auto &c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

struct Annotations {
    std::string api, http_url, http_status, sql_text, http_method;
    bool sql_known = false;
    // DataKit's tag values: the first annotation 40 / 46 as Go prints the value message.
    std::string dk_http_url, dk_http_status;
    bool dk_http_url_seen = false, dk_http_status_seen = false;
};

Annotations read_annotations(const google::protobuf::RepeatedPtrField<v1::PAnnotation> &anns, const MetadataStore &meta,
                             const std::string &agent) {
    Annotations a;
    for (auto &an : anns) {
        if (!an.has_value()) continue;
        if (an.key() == kAnnotationHttpUrl && !a.dk_http_url_seen) {
            a.dk_http_url = go_proto_text(an.value());
            a.dk_http_url_seen = true;
        } else if (an.key() == kAnnotationHttpStatusCode && !a.dk_http_status_seen) {
            a.dk_http_status = go_proto_text(an.value());
            a.dk_http_status_seen = true;
        }
        switch (an.key()) {
        case kAnnotationApi:
            if (a.api.empty()) a.api = annotation_text(an.value());
            break;
        case kAnnotationHttpUrl:
            if (a.http_url.empty()) a.http_url = annotation_text(an.value());
            break;
        case kAnnotationHttpStatusCode:
            if (a.http_status.empty()) a.http_status = annotation_text(an.value());
            break;
        case kAnnotationSqlId:
            if (!a.sql_known && an.value().has_intstringstringvalue()) {
                if (auto s = meta.sql(agent, an.value().intstringstringvalue().intvalue())) {
                    a.sql_text = one_line(*s);
                    a.sql_known = true;
                }
            }
            break;
        case kAnnotationSql:
            if (!a.sql_known) {
                a.sql_text = one_line(annotation_text(an.value()));
                a.sql_known = !a.sql_text.empty();
            }
            break;
        default: break;
        }
    }
    if (!a.http_url.empty() && is_http_verb(a.api)) a.http_method = a.api;
    return a;
}

// DataKit's `resource` and `operation` of an event (shared/spec/pinpoint.md §5.5): the API
// (else the string with the same id) of the event's apiId; an SQL-ID annotation replaces both
// with its SQL (both empty when the SQL is unknown); `resource` falls back to the decimal apiId.
struct DataKitNames {
    std::string resource, operation;
};

DataKitNames datakit_event_names(const v1::PSpanEvent &e, const MetadataStore &meta, const std::string &agent) {
    DataKitNames n;
    const std::string id = std::to_string(e.apiid());
    if (auto api = meta.api(agent, e.apiid())) {
        std::string info = api->info;
        std::replace(info.begin(), info.end(), '\n', ' '); // as DataKit stores API names
        n.operation = "id:" + id + " line:" + std::to_string(api->line) + " " + api->location + ":" + info;
        n.resource = std::move(info);
    } else if (auto s = meta.string_value(agent, e.apiid())) {
        n.resource = *s;
        n.operation = "id:" + id + " res:" + *s;
    }
    for (auto &an : e.annotation()) {
        if (an.key() != kAnnotationSqlId || !an.has_value() || !an.value().has_intstringstringvalue()) continue;
        const int32_t sql_id = an.value().intstringstringvalue().intvalue();
        auto sql = meta.sql(agent, sql_id);
        n.resource = sql ? *sql : std::string();
        n.operation = sql ? "id:" + std::to_string(sql_id) + " :" + *sql : std::string();
    }
    if (n.resource.empty()) n.resource = id;
    return n;
}

using Tags = std::vector<std::pair<std::string, std::string>>;

// Writes one point over a recycled one: tags and fields overwrite the slots already there
// (their strings keep their capacity), so a steady stream of traces stops allocating them.
class PointWriter {
  public:
    explicit PointWriter(trib::Point &p) : p_(p) {}
    ~PointWriter() {
        p_.tags.resize(tags_);
        p_.fields.resize(fields_);
    }
    PointWriter(const PointWriter &) = delete;
    PointWriter &operator=(const PointWriter &) = delete;
    // DataKit's empty tags never reach a store: an empty value writes nothing.
    void tag(std::string_view k, std::string_view v) {
        if (!v.empty()) tag_as_is(k, v);
    }
    void tag_as_is(std::string_view k, std::string_view v) {
        if (tags_ < p_.tags.size()) {
            p_.tags[tags_].first.assign(k);
            p_.tags[tags_].second.assign(v);
        } else {
            p_.tags.emplace_back(std::string(k), std::string(v));
        }
        ++tags_;
    }
    trib::Field &field(const char *k, trib_field_type type) {
        if (fields_ == p_.fields.size()) p_.fields.emplace_back();
        trib::Field &f = p_.fields[fields_++];
        f.key.assign(k);
        f.type = type;
        f.i = 0;
        f.u = 0;
        f.f = 0;
        f.b = false;
        f.s.clear();
        return f;
    }
    void string_field(const char *k, std::string_view v) { field(k, TRIB_FIELD_STRING).s.assign(v); }
    void int_field(const char *k, int64_t v) { field(k, TRIB_FIELD_INT).i = v; }

  private:
    trib::Point &p_;
    size_t tags_ = 0, fields_ = 0;
};

// The tags every point of one agent carries (looked up once per trace and agent).
Tags agent_tags(const CallHeaders &h, const MetadataStore &meta) {
    Tags t;
    t.emplace_back("agent_id", h.agent_id);
    if (!h.agent_name.empty()) t.emplace_back("agent_name", h.agent_name);
    if (auto info = meta.agent_info(h.agent_id)) {
        if (!info->hostname.empty()) t.emplace_back("hostname", info->hostname);
        if (!info->ip.empty()) t.emplace_back("ip", info->ip);
        if (info->pid != 0) t.emplace_back("pid", std::to_string(info->pid));
        if (!info->ports.empty()) t.emplace_back("ports", info->ports);
        t.emplace_back("container", info->container ? "true" : "false");
        if (!info->agent_version.empty()) t.emplace_back("agentVersion", info->agent_version);
    }
    return t;
}

} // namespace

int64_t event_id(const std::string &trace_id, int64_t span_id, int32_t async_id, int32_t async_seq, int32_t sequence) {
    uint64_t h = fnv1a(trace_id);
    h = mix(h, uint64_t(span_id));
    h = mix(h, uint64_t(uint32_t(async_id)));
    h = mix(h, uint64_t(uint32_t(async_seq)));
    h = mix(h, uint64_t(uint32_t(sequence)));
    int64_t id = int64_t(h >> 1); // non-negative, like DataKit's int63 ids
    return id == 0 ? 1 : id;
}

namespace {
// What widening events over their children works in (per thread, kept between traces).
struct WidenScratch {
    std::vector<std::pair<int64_t, size_t>> by_id;
    std::vector<size_t> parent, child_start, children, fill, order;
    std::vector<char> seen;
};
} // namespace

BuiltTrace build_trace(const ReadyTrace &trace, const MetadataStore &meta, const BuildOptions &opt,
                       std::vector<trib::Point> *recycle) {
    BuiltTrace out;
    if (recycle) out.points = std::move(*recycle);
    out.index = std::make_shared<LinkIndex>();
    const std::string &tid = trace.trace_id;

    // Spans by id (first wins), chunks by span id.
    std::vector<const SpanPiece *> spans;
    spans.reserve(trace.pieces.size());
    std::unordered_map<int64_t, const SpanPiece *> span_by_id;
    std::map<int64_t, std::vector<const SpanPiece *>> chunks_by_span;
    size_t node_estimate = 0; // spans and events: the nodes' list is sized once
    for (auto &p : trace.pieces)
        node_estimate += p.span    ? 1 + size_t(p.span->spanevent_size())
                         : p.chunk ? size_t(p.chunk->spanevent_size())
                                   : 0;
    for (auto &p : trace.pieces) {
        if (p.span) {
            if (span_by_id.emplace(p.span->spanid(), &p).second) spans.push_back(&p);
        } else if (p.chunk) {
            chunks_by_span[p.chunk->spanid()].push_back(&p);
        }
    }

    std::vector<Node> nodes;
    nodes.reserve(node_estimate);
    std::unordered_set<int64_t> used_ids;
    struct Group {
        size_t from, to;
        int64_t span_id;
        int32_t async_id;
        bool has_span;
    };
    std::vector<Group> groups;

    // Entry nodes.
    for (auto *sp : spans) {
        const v1::PSpan &s = *sp->span;
        Node n;
        n.id = s.spanid();
        n.span = &s;
        n.headers = sp->headers.get();
        n.start_ms = clamp_ms(s.starttime());
        n.end_ms = clamp_ms(n.start_ms + std::max<int32_t>(0, s.elapsed()));
        nodes.push_back(std::move(n));
    }
    size_t entry_count = nodes.size();

    auto chunk_base = [&](const v1::PSpanChunk &c, const SpanPiece &piece, int64_t span_id) -> int64_t {
        if (c.keytime() > 0) return c.keytime();
        auto it = span_by_id.find(span_id);
        if (it != span_by_id.end()) return it->second->span->starttime();
        if (trace.earlier) {
            auto t = trace.earlier->span_times_ms.find(span_id);
            if (t != trace.earlier->span_times_ms.end()) return t->second.first;
        }
        return piece.received_ms;
    };

    // Each span's own events, joined by its chunks without a localAsyncId.
    std::set<int64_t> span_ids_with_lists;
    for (auto *sp : spans) {
        const v1::PSpan &s = *sp->span;
        size_t from = nodes.size();
        decode({&s.spanevent(), s.starttime(), nullptr, sp->headers.get(), 0}, tid, s.spanid(), 0, used_ids, nodes);
        auto ch = chunks_by_span.find(s.spanid());
        if (ch != chunks_by_span.end())
            for (auto *cp : ch->second)
                if (!cp->chunk->has_localasyncid())
                    decode({&cp->chunk->spanevent(), chunk_base(*cp->chunk, *cp, s.spanid()), cp->chunk.get(),
                            cp->headers.get(), 0},
                           tid, s.spanid(), 0, used_ids, nodes);
        groups.push_back({from, nodes.size(), s.spanid(), 0, true});
        span_ids_with_lists.insert(s.spanid());
    }
    // Chunks of spans not in this trace, and async chunks.
    for (auto &[span_id, list] : chunks_by_span) {
        std::map<int32_t, std::vector<const SpanPiece *>> async_groups;
        std::vector<const SpanPiece *> plain;
        for (auto *cp : list) {
            if (cp->chunk->has_localasyncid()) async_groups[cp->chunk->localasyncid().asyncid()].push_back(cp);
            else if (!span_ids_with_lists.count(span_id)) plain.push_back(cp);
        }
        if (!plain.empty()) {
            size_t from = nodes.size();
            for (auto *cp : plain)
                decode({&cp->chunk->spanevent(), chunk_base(*cp->chunk, *cp, span_id), cp->chunk.get(),
                        cp->headers.get(), 0},
                       tid, span_id, 0, used_ids, nodes);
            groups.push_back({from, nodes.size(), span_id, 0, false});
        }
        for (auto &[async_id, chunks] : async_groups) {
            std::stable_sort(chunks.begin(), chunks.end(), [](auto *a, auto *b) {
                return a->chunk->localasyncid().sequence() < b->chunk->localasyncid().sequence();
            });
            size_t from = nodes.size();
            for (auto *cp : chunks)
                decode({&cp->chunk->spanevent(), chunk_base(*cp->chunk, *cp, span_id), cp->chunk.get(),
                        cp->headers.get(), cp->chunk->localasyncid().sequence()},
                       tid, span_id, async_id, used_ids, nodes);
            groups.push_back({from, nodes.size(), span_id, async_id, false});
        }
    }

    // Links every event offers: async owners and exit events.
    auto &idx = *out.index;
    for (size_t i = entry_count; i < nodes.size(); ++i) {
        const Node &n = nodes[i];
        if (n.event->asyncevent() != 0)
            idx.async_owner.emplace(std::make_pair(n.owner_span, n.event->asyncevent()), n.id);
        if (n.event->has_nextevent() && n.event->nextevent().has_messageevent()) {
            int64_t next = n.event->nextevent().messageevent().nextspanid();
            if (next != 0 && next != -1 && next != n.owner_span) idx.exit_event_by_next_span.emplace(next, n.id);
        }
    }
    for (size_t i = 0; i < entry_count; ++i) idx.span_times_ms[nodes[i].id] = {nodes[i].start_ms, nodes[i].end_ms};

    // Parents of events.
    for (auto &g : groups) {
        int64_t base = g.span_id;
        bool base_is_node = g.has_span;
        if (g.async_id != 0) {
            auto key = std::make_pair(g.span_id, g.async_id);
            auto it = idx.async_owner.find(key);
            if (it != idx.async_owner.end()) {
                base = it->second;
                base_is_node = true;
            } else if (trace.earlier) {
                auto e = trace.earlier->async_owner.find(key);
                if (e != trace.earlier->async_owner.end()) {
                    base = e->second;
                    base_is_node = false;
                }
            }
        }
        link_depths(nodes, g.from, g.to, base, base_is_node, std::to_string(base));
    }
    // Parents of spans.
    for (size_t i = 0; i < entry_count; ++i) {
        Node &n = nodes[i];
        if (n.span->parentspanid() == -1) {
            n.parent = "0";
            continue;
        }
        auto it = idx.exit_event_by_next_span.find(n.id);
        if (it != idx.exit_event_by_next_span.end()) {
            n.parent_node = it->second;
            n.parent_is_id = true;
        } else if (trace.earlier && trace.earlier->exit_event_by_next_span.count(n.id)) {
            n.parent_node = trace.earlier->exit_event_by_next_span.at(n.id);
        } else {
            n.parent_node = n.span->parentspanid();
        }
        n.parent = std::to_string(n.parent_node);
    }

    // Widen events to cover their children, children first (breadth-first order reversed).
    // Flat lists reused by the thread: a trace is a handful of nodes, and a map and a list
    // per node were most of the allocations of building it.
    {
        thread_local WidenScratch w;
        const size_t count = nodes.size();
        // Node ids in order, the first node of an id first (the one a parent id names).
        w.by_id.clear();
        for (size_t i = 0; i < count; ++i) w.by_id.emplace_back(nodes[i].id, i);
        std::sort(w.by_id.begin(), w.by_id.end());
        auto position_of = [&](int64_t id) -> size_t {
            auto it = std::lower_bound(w.by_id.begin(), w.by_id.end(), std::make_pair(id, size_t(0)));
            return it != w.by_id.end() && it->first == id ? it->second : count;
        };
        // Children of each node, in node order (counted, then placed).
        w.parent.assign(count, count);
        w.child_start.assign(count + 1, 0);
        for (size_t i = 0; i < count; ++i) {
            if (!nodes[i].parent_is_id) continue;
            size_t p = position_of(nodes[i].parent_node);
            if (p == count || p == i) continue;
            w.parent[i] = p;
            ++w.child_start[p + 1];
        }
        for (size_t i = 0; i < count; ++i) w.child_start[i + 1] += w.child_start[i];
        w.children.resize(w.child_start[count]);
        w.fill.assign(w.child_start.begin(), w.child_start.end() - 1);
        for (size_t i = 0; i < count; ++i)
            if (w.parent[i] != count) w.children[w.fill[w.parent[i]]++] = i;
        w.order.clear();
        w.seen.assign(count, 0);
        for (size_t i = 0; i < count; ++i)
            if (w.parent[i] == count) {
                w.order.push_back(i);
                w.seen[i] = 1;
            }
        for (size_t k = 0; k < w.order.size(); ++k) {
            const size_t at = w.order[k];
            for (size_t c = w.child_start[at]; c < w.child_start[at + 1]; ++c)
                if (!w.seen[w.children[c]]) {
                    w.seen[w.children[c]] = 1;
                    w.order.push_back(w.children[c]);
                }
        }
        for (size_t k = w.order.size(); k-- > 0;) {
            Node &n = nodes[w.order[k]];
            if (!n.event) continue;
            for (size_t c = w.child_start[w.order[k]]; c < w.child_start[w.order[k] + 1]; ++c)
                n.end_ms = std::max(n.end_ms, nodes[w.children[c]].end_ms);
        }
    }

    // Points, written over the recycled ones first.
    if (out.points.size() > nodes.size()) out.points.resize(nodes.size());
    out.points.reserve(nodes.size());
    // Per agent of the trace (most traces have one): a short list searched in place.
    std::vector<std::pair<const CallHeaders *, Tags>> agent_tag_cache;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node &n = nodes[i];
        const CallHeaders &h = *n.headers;
        if (i == out.points.size()) {
            out.points.emplace_back();
            out.points.back().tags.reserve(32);
            out.points.back().fields.reserve(12);
        }
        trib::Point &p = out.points[i];
        p.measurement.assign("pinpointV2");
        p.category.assign("tracing");
        p.time_ns = n.start_ms * 1000000;
        p.attachments.clear();
        PointWriter w(p);
        // DataKit's values (dk_*) and ours, kept side by side (README "Points").
        std::string dk_service, dk_source_type, dk_span_type, dk_operation, dk_resource;
        std::string api_name, resource_detail, error_message, error_type, endpoint, destination;
        int32_t service_type;
        bool error = false, exit = false;
        Annotations ann;
        if (n.span) {
            const v1::PSpan &s = *n.span;
            service_type = s.servicetype();
            ann = read_annotations(s.annotation(), meta, h.agent_id);
            auto api = meta.api(h.agent_id, s.apiid());
            if (api) api_name = one_line(api->info);
            dk_service = h.application_name;
            dk_source_type = std::string(service_type_name(service_type));
            dk_span_type = "entry";
            if (s.has_acceptevent()) {
                dk_resource = s.acceptevent().rpc();
                dk_operation = s.acceptevent().endpoint();
            }
            resource_detail = dk_resource.empty() ? (api ? api_name : dk_source_type) : dk_resource;
            // DataKit leaves `resource` out without an acceptEvent; a span needs one to be found.
            if (dk_resource.empty()) dk_resource = resource_detail;
            if (s.err() != 0) {
                error = true;
                if (s.has_exceptioninfo()) {
                    error_message = s.exceptioninfo().stringvalue().value();
                    if (auto cls = meta.string_value(h.agent_id, s.exceptioninfo().intvalue())) error_type = *cls;
                }
                if (error_message.empty())
                    if (auto e = meta.exception(h.agent_id, tid + "/" + std::to_string(s.spanid()))) error_message = *e;
            }
        } else {
            const v1::PSpanEvent &e = *n.event;
            service_type = e.servicetype();
            ann = read_annotations(e.annotation(), meta, h.agent_id);
            auto api = e.apiid() != 0 ? meta.api(h.agent_id, e.apiid()) : std::nullopt;
            if (api) api_name = one_line(api->info);
            else if (!ann.api.empty()) api_name = ann.api;
            dk_service = std::string(service_type_name(service_type));
            dk_source_type = "custom";
            dk_span_type = "local"; // DataKit's later `exit` loses to its first value
            DataKitNames dk = datakit_event_names(e, meta, h.agent_id);
            dk_resource = std::move(dk.resource);
            dk_operation = std::move(dk.operation);
            if (ann.sql_known) resource_detail = ann.sql_text;
            else if (!ann.http_url.empty())
                resource_detail = ann.http_method.empty() ? ann.http_url : ann.http_method + " " + ann.http_url;
            else if (api) resource_detail = api_name;
            else if (!ann.api.empty()) resource_detail = ann.api;
            else if (auto sv = e.apiid() != 0 ? meta.string_value(h.agent_id, e.apiid()) : std::nullopt)
                resource_detail = *sv;
            else resource_detail = std::string(service_type_name(service_type));
            if (e.has_nextevent() && e.nextevent().has_messageevent()) {
                const auto &m = e.nextevent().messageevent();
                endpoint = m.endpoint();
                destination = m.destinationid();
                exit = (m.nextspanid() != 0 && m.nextspanid() != -1) || !m.destinationid().empty();
            }
            // Databases (2xxx) and caches/queues (8xxx) are remote calls without a callee span.
            if ((service_type >= 2000 && service_type < 3000) || (service_type >= 8000 && service_type < 9000))
                exit = true;
            if (e.has_exceptioninfo()) {
                error = true;
                error_message = e.exceptioninfo().stringvalue().value();
                if (auto cls = meta.string_value(h.agent_id, e.exceptioninfo().intvalue())) error_type = *cls;
            }
        }
        char num[24];
        auto decimal = [&num](int64_t v) {
            auto r = std::to_chars(num, num + sizeof num, v);
            return std::string_view(num, size_t(r.ptr - num));
        };
        w.tag("service", dk_service);
        w.tag("source", "pinpointV2");
        w.tag("source_type", dk_source_type);
        w.tag("span_type", dk_span_type);
        w.tag("operation", dk_operation);
        w.tag("status", error ? "error" : "ok");
        if (n.event) {
            w.tag("sequence", decimal(n.event->sequence()));
            w.tag("depth", decimal(n.event->depth()));
            w.tag("endpoint", endpoint);
            w.tag("destination_id", destination);
        }
        w.tag("http_url", ann.dk_http_url);
        w.tag("http_status_code", ann.dk_http_status);
        // Ours: the application, service type and position of every point, the API by name,
        // bare HTTP values.
        w.tag("application_name", h.application_name);
        w.tag("service_type", service_type_name(service_type));
        w.tag("span_position", n.span ? "entry" : exit ? "exit" : "local");
        w.tag("api_name", api_name);
        w.tag("http_method", ann.http_method);
        w.tag("http_url_bare", ann.http_url);
        w.tag("http_status_code_bare", ann.http_status);
        auto cached = std::find_if(agent_tag_cache.begin(), agent_tag_cache.end(),
                                   [&h](const auto &entry) { return entry.first == &h; });
        if (cached == agent_tag_cache.end()) {
            agent_tag_cache.emplace_back(&h, agent_tags(h, meta));
            cached = agent_tag_cache.end() - 1;
        }
        // Keys differ from the ones set above: no uniqueness scan needed.
        for (auto &kv : cached->second) w.tag_as_is(kv.first, kv.second);

        w.string_field("trace_id", tid);
        w.string_field("span_id", decimal(n.id));
        w.string_field("parent_id", n.parent.empty() ? std::string_view("0") : std::string_view(n.parent));
        w.int_field("start", n.start_ms * 1000);
        w.int_field("duration", (n.end_ms - n.start_ms) * 1000);
        w.string_field("resource", dk_resource);
        w.string_field("resource_detail", resource_detail);
        if (error) {
            if (!error_message.empty()) w.string_field("error_message", error_message);
            if (!error_type.empty()) w.string_field("error_type", error_type);
            out.has_error = true;
        }
        if (!opt.del_message) {
            std::string &message = w.field("message", TRIB_FIELD_STRING).s;
            // A span's message goes without spanEvent (13): each event is its own point.
            if (n.span) append_json(*n.span, message, v1::PSpan::kSpanEventFieldNumber);
            else append_json(*n.event, message);
        }
        if (n.span && n.span->parentspanid() == -1 && out.root_index < 0) out.root_index = int(i);
    }
    return out;
}

} // namespace trib::pinpoint
