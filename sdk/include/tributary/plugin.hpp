// Header-only C++17 helpers over plugin.h. Optional for module authors: everything here
// is built on the C ABI alone. Nothing here throws across the ABI: the module adapter
// (TRIB_DEFINE_MODULE) catches every exception and turns it into a status and message.
#ifndef TRIBUTARY_PLUGIN_HPP
#define TRIBUTARY_PLUGIN_HPP

#include <tributary/plugin.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trib {

// ------------------------------------------------------------------ views

inline trib_str view(std::string_view s) { return trib_str{s.data(), s.size()}; }
inline trib_bytes bytes_view(std::string_view s) {
    return trib_bytes{reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}
inline std::string_view sv(trib_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }
inline std::string_view sv(trib_bytes b) {
    return b.ptr ? std::string_view(reinterpret_cast<const char *>(b.ptr), b.len) : std::string_view();
}

// Writes msg into a caller-supplied error buffer, NUL-terminated and truncated to fit.
inline void write_error(char *err, size_t cap, std::string_view msg) {
    if (!err || cap == 0) return;
    size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

// An error that carries a status across the adapter.
struct StatusError : std::runtime_error {
    trib_status status;
    StatusError(trib_status s, const std::string &m) : std::runtime_error(m), status(s) {}
};

// The host's memory budget refused a reservation (MemoryReservation below): BACKPRESSURE
// (spent right now) or INVALID_ARGUMENT (more than the whole budget).
struct MemoryRefused : StatusError {
    using StatusError::StatusError;
};

// ------------------------------------------------------------------ owned points

struct Field {
    std::string key;
    trib_field_type type = TRIB_FIELD_INT;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    bool b = false;
    std::string s; // string or bytes

    static Field Int(std::string k, int64_t v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_INT;
        x.i = v;
        return x;
    }
    static Field Uint(std::string k, uint64_t v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_UINT;
        x.u = v;
        return x;
    }
    static Field Float(std::string k, double v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_FLOAT;
        x.f = v;
        return x;
    }
    static Field Bool(std::string k, bool v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_BOOL;
        x.b = v;
        return x;
    }
    static Field String(std::string k, std::string v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_STRING;
        x.s = std::move(v);
        return x;
    }
    static Field Bytes(std::string k, std::string v) {
        Field x;
        x.key = std::move(k);
        x.type = TRIB_FIELD_BYTES;
        x.s = std::move(v);
        return x;
    }
};

struct Attachment {
    std::string name;
    std::string content_type;
    // Shared so one upload's bytes can back several points or retries without copies.
    // Null (with stored_path set) once the host has moved the bytes into its attachment
    // store: whoever needs them reads the file (the host does for sinks that need bytes).
    std::shared_ptr<const std::string> data;
    std::string stored_path; // the host's store file holding the bytes; empty: not stored
    uint64_t stored_size = 0;
    uint64_t size() const { return data ? data->size() : stored_size; }
};

// A point that owns its storage. Tags keep insertion order (and are unique by key).
struct Point {
    std::string measurement;
    std::string category;
    int64_t time_ns = 0;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<Field> fields;
    std::vector<Attachment> attachments;

    Point() = default;
    Point(std::string m, std::string c, int64_t t) : measurement(std::move(m)), category(std::move(c)), time_ns(t) {}

    // Sets (or replaces) a tag. Linear in the number of tags overall: past a few tags a
    // key index is kept (rebuilt if `tags` was changed directly), so building a point
    // from many client tags is not quadratic.
    Point &tag(std::string k, std::string v) {
        if (tags.size() < kIndexFrom) {
            for (auto &kv : tags)
                if (kv.first == k) {
                    kv.second = std::move(v);
                    return *this;
                }
            tags.emplace_back(std::move(k), std::move(v));
            return *this;
        }
        sync_tag_index();
        auto it = tag_index_.find(k);
        if (it != tag_index_.end()) {
            tags[it->second].second = std::move(v);
            return *this;
        }
        tag_index_.emplace(k, tags.size());
        tags.emplace_back(std::move(k), std::move(v));
        return *this;
    }
    const std::string *find_tag(std::string_view k) const {
        if (tags.size() >= kIndexFrom && tag_index_.size() == tags.size()) {
            auto it = tag_index_.find(std::string(k));
            return it == tag_index_.end() ? nullptr : &tags[it->second].second;
        }
        for (auto &kv : tags)
            if (kv.first == k) return &kv.second;
        return nullptr;
    }
    const Field *find_field(std::string_view k) const {
        for (auto &f : fields)
            if (f.key == k) return &f;
        return nullptr;
    }
    Point &field(Field f) {
        for (auto &x : fields)
            if (x.key == f.key) {
                x = std::move(f);
                return *this;
            }
        fields.push_back(std::move(f));
        return *this;
    }
    Point &attach(std::string name, std::string content_type, std::shared_ptr<const std::string> data) {
        attachments.push_back(Attachment{std::move(name), std::move(content_type), std::move(data)});
        return *this;
    }
    Point &attach(std::string name, std::string content_type, std::string data) {
        return attach(std::move(name), std::move(content_type), std::make_shared<const std::string>(std::move(data)));
    }

    // Writes a C point (any struct_size the writer used) over this one. The tags, fields and
    // their strings already here are overwritten in place and keep their capacity, so a
    // spent point reused for the next one allocates little. `spare_tags`: room for more.
    Point &assign(const trib_point &cp, size_t spare_tags = 0);

  private:
    static constexpr size_t kIndexFrom = 16;
    void sync_tag_index() {
        if (tag_index_.size() == tags.size()) return;
        tag_index_.clear();
        tag_index_.reserve(tags.size() * 2);
        for (size_t i = 0; i < tags.size(); ++i) tag_index_.emplace(tags[i].first, i);
    }
    // key → position in `tags`; built once a point has kIndexFrom tags. Code that edits
    // `tags` directly changes its size, which makes the next tag() rebuild it.
    std::unordered_map<std::string, size_t> tag_index_;
};

// Builds the C view of a set of owned points. The view borrows from `points`, which must
// stay unchanged while the view is used.
class BatchView {
  public:
    explicit BatchView(const std::vector<Point> &points) {
        const std::vector<Point> *one = &points;
        build(&one, 1);
    }
    // One view over several vectors of points, in order (batches joined without copying them).
    explicit BatchView(const std::vector<const std::vector<Point> *> &parts) { build(parts.data(), parts.size()); }
    BatchView(const BatchView &) = delete;
    BatchView &operator=(const BatchView &) = delete;
    const trib_batch *get() const { return &batch_; }

  private:
    void build(const std::vector<Point> *const *parts, size_t part_count) {
        size_t nt = 0, nf = 0, na = 0, np = 0;
        for (size_t k = 0; k < part_count; ++k)
            for (auto &p : *parts[k]) {
                nt += p.tags.size();
                nf += p.fields.size();
                na += p.attachments.size();
                ++np;
            }
        tags_.reserve(nt);
        fields_.reserve(nf);
        atts_.reserve(na);
        pts_.reserve(np);
        for (size_t k = 0; k < part_count; ++k)
            for (auto &p : *parts[k]) add(p);
        batch_ = trib_batch{sizeof(trib_batch), pts_.empty() ? nullptr : pts_.data(), pts_.size()};
    }

    void add(const Point &p) {
        size_t t0 = tags_.size(), f0 = fields_.size(), a0 = atts_.size();
        for (auto &kv : p.tags) tags_.push_back(trib_tag{sizeof(trib_tag), view(kv.first), view(kv.second)});
        for (auto &f : p.fields) {
            trib_field cf{};
            cf.struct_size = sizeof(trib_field);
            cf.type = f.type;
            cf.key = view(f.key);
            switch (f.type) {
            case TRIB_FIELD_INT: cf.value.i = f.i; break;
            case TRIB_FIELD_UINT: cf.value.u = f.u; break;
            case TRIB_FIELD_FLOAT: cf.value.f = f.f; break;
            case TRIB_FIELD_BOOL: cf.value.b = f.b; break;
            case TRIB_FIELD_STRING: cf.value.s = view(f.s); break;
            case TRIB_FIELD_BYTES: cf.value.bytes = bytes_view(f.s); break;
            }
            fields_.push_back(cf);
        }
        for (auto &a : p.attachments) {
            trib_attachment ca{};
            ca.struct_size = sizeof(trib_attachment);
            ca.name = view(a.name);
            ca.content_type = view(a.content_type);
            ca.data = a.data ? bytes_view(*a.data) : trib_bytes{nullptr, 0};
#if TRIB_ABI_TARGET_MINOR >= 5
            ca.stored_path = view(a.stored_path);
            ca.size = a.size();
#endif
            atts_.push_back(ca);
        }
        trib_point cp{};
        cp.struct_size = sizeof(trib_point);
        cp.measurement = view(p.measurement);
        cp.category = view(p.category);
        cp.time_ns = p.time_ns;
        cp.tags = p.tags.empty() ? nullptr : tags_.data() + t0;
        cp.tag_count = p.tags.size();
        cp.fields = p.fields.empty() ? nullptr : fields_.data() + f0;
        cp.field_count = p.fields.size();
        cp.attachments = p.attachments.empty() ? nullptr : atts_.data() + a0;
        cp.attachment_count = p.attachments.size();
        pts_.push_back(cp);
    }

    std::vector<trib_tag> tags_;
    std::vector<trib_field> fields_;
    std::vector<trib_attachment> atts_;
    std::vector<trib_point> pts_;
    trib_batch batch_{};
};

inline Point &Point::assign(const trib_point &cp, size_t spare_tags) {
    measurement.assign(sv(cp.measurement));
    category.assign(sv(cp.category));
    time_ns = cp.time_ns;
    tag_index_.clear();
    const size_t tag_count = cp.tag_count && cp.tags ? cp.tag_count : 0;
    if (tags.size() > tag_count) tags.resize(tag_count);
    tags.reserve(tag_count + spare_tags);
    for (size_t i = 0; i < tag_count; ++i) {
        const trib_tag *t = TRIB_AT(trib_tag, cp.tags, i);
        if (i < tags.size()) {
            tags[i].first.assign(sv(t->key));
            tags[i].second.assign(sv(t->value));
        } else {
            tags.emplace_back(std::string(sv(t->key)), std::string(sv(t->value)));
        }
    }
    const size_t field_count = cp.field_count && cp.fields ? cp.field_count : 0;
    fields.reserve(field_count);
    size_t kept = 0;
    for (size_t i = 0; i < field_count; ++i) {
        const trib_field *cf = TRIB_AT(trib_field, cp.fields, i);
        if (cf->type > TRIB_FIELD_BYTES) continue; // a type this SDK does not know
        if (kept == fields.size()) fields.emplace_back();
        Field &f = fields[kept++];
        f.key.assign(sv(cf->key));
        f.type = static_cast<trib_field_type>(cf->type);
        f.i = 0;
        f.u = 0;
        f.f = 0;
        f.b = false;
        f.s.clear();
        switch (cf->type) {
        case TRIB_FIELD_INT: f.i = cf->value.i; break;
        case TRIB_FIELD_UINT: f.u = cf->value.u; break;
        case TRIB_FIELD_FLOAT: f.f = cf->value.f; break;
        case TRIB_FIELD_BOOL: f.b = cf->value.b; break;
        case TRIB_FIELD_STRING: f.s.assign(sv(cf->value.s)); break;
        case TRIB_FIELD_BYTES: f.s.assign(sv(cf->value.bytes)); break;
        }
    }
    fields.resize(kept);
    attachments.clear();
    if (cp.attachment_count && cp.attachments)
        for (size_t i = 0; i < cp.attachment_count; ++i) {
            const trib_attachment *a = TRIB_AT(trib_attachment, cp.attachments, i);
            attach(std::string(sv(a->name)), std::string(sv(a->content_type)), std::string(sv(a->data)));
        }
    return *this;
}

// Deep-copies a C point (any struct_size the writer used) into an owned Point, with room
// for `spare_tags` more tags (the host adds its global tags without moving the others).
inline Point copy_point(const trib_point &cp, size_t spare_tags = 0) {
    Point p;
    p.assign(cp, spare_tags);
    return p;
}

inline std::vector<Point> copy_batch(const trib_batch &b) {
    std::vector<Point> out;
    if (!b.points) return out;
    out.reserve(b.point_count);
    for (size_t i = 0; i < b.point_count; ++i) out.push_back(copy_point(*TRIB_AT(trib_point, b.points, i)));
    return out;
}

// ------------------------------------------------------------------ HTTP helpers

struct HttpResponse {
    uint32_t status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    static HttpResponse text(uint32_t status, std::string body) {
        HttpResponse r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }
};

// A read-only wrapper over trib_http_request.
class HttpRequest {
  public:
    explicit HttpRequest(const trib_http_request &r) : r_(r) {}
    std::string_view method() const { return sv(r_.method); }
    std::string_view path() const { return sv(r_.path); }
    std::string_view query() const { return sv(r_.query); }
    std::string_view content_type() const { return sv(r_.content_type); }
    std::string_view body() const { return sv(r_.body); }
    std::string_view remote_addr() const { return sv(r_.remote_addr); }
    // First header with this name (case-insensitive); empty if none.
    std::string_view header(std::string_view name) const {
        for (size_t i = 0; i < r_.header_count; ++i) {
            const trib_header *h = TRIB_AT(trib_header, r_.headers, i);
            std::string_view n = sv(h->name);
            if (n.size() == name.size() && iequals(n, name)) return sv(h->value);
        }
        return {};
    }
    std::vector<std::pair<std::string_view, std::string_view>> headers() const {
        std::vector<std::pair<std::string_view, std::string_view>> out;
        for (size_t i = 0; i < r_.header_count; ++i) {
            const trib_header *h = TRIB_AT(trib_header, r_.headers, i);
            out.emplace_back(sv(h->name), sv(h->value));
        }
        return out;
    }
    // Query parameters in order, percent- and plus-decoded; repeated keys repeat.
    std::vector<std::pair<std::string, std::string>> query_params() const { return parse_query(query()); }

    static bool iequals(std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i) {
            char x = a[i], y = b[i];
            if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
            if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
            if (x != y) return false;
        }
        return true;
    }
    static std::string url_decode(std::string_view s) {
        std::string out;
        out.reserve(s.size());
        for (size_t i = 0; i < s.size(); ++i) {
            char c = s[i];
            if (c == '+') out.push_back(' ');
            else if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
                out.push_back(char(hex(s[i + 1]) * 16 + hex(s[i + 2])));
                i += 2;
            } else out.push_back(c);
        }
        return out;
    }
    static std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
        std::vector<std::pair<std::string, std::string>> out;
        size_t pos = 0;
        while (pos <= q.size()) {
            size_t amp = q.find('&', pos);
            if (amp == std::string_view::npos) amp = q.size();
            std::string_view item = q.substr(pos, amp - pos);
            if (!item.empty()) {
                size_t eq = item.find('=');
                if (eq == std::string_view::npos) out.emplace_back(url_decode(item), std::string());
                else out.emplace_back(url_decode(item.substr(0, eq)), url_decode(item.substr(eq + 1)));
            }
            pos = amp + 1;
        }
        return out;
    }

  private:
    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    const trib_http_request &r_;
};

// What a refusal by the host (emit, memory_reserve) means for the client. One mapping for
// every module: HTTP below, gRPC and Connect codes in the modules that speak them.
//   busy        BACKPRESSURE: full right now            HTTP 429 + Retry-After
//   unavailable RETRY, FATAL: cannot take it now         HTTP 503 + Retry-After
//   too_large   INVALID_ARGUMENT: larger than the host   HTTP 413 (retrying cannot help;
//               will ever take (bus ceiling, budget)     emit's malformed batch lands here too)
//   invalid     PERMANENT, UNSUPPORTED                   HTTP 400
enum class Refusal { none, busy, unavailable, too_large, invalid };

inline Refusal refusal_of(trib_status st) {
    switch (st) {
    case TRIB_OK: return Refusal::none;
    case TRIB_BACKPRESSURE: return Refusal::busy;
    case TRIB_RETRY:
    case TRIB_FATAL: return Refusal::unavailable;
    case TRIB_INVALID_ARGUMENT: return Refusal::too_large;
    default: return Refusal::invalid;
    }
}
inline bool is_transient(Refusal r) { return r == Refusal::busy || r == Refusal::unavailable; }
inline uint32_t http_status_of(Refusal r) {
    switch (r) {
    case Refusal::none: return 200;
    case Refusal::busy: return 429;
    case Refusal::unavailable: return 503;
    case Refusal::too_large: return 413;
    case Refusal::invalid: break;
    }
    return 400;
}
// The answer to a refused request: the status above, Retry-After when a retry can help.
inline HttpResponse refusal_response(trib_status st, std::string message) {
    Refusal r = refusal_of(st);
    if (!message.empty() && message.back() != '\n') message.push_back('\n');
    HttpResponse out = HttpResponse::text(http_status_of(r), std::move(message));
    if (is_transient(r)) out.headers.emplace_back("Retry-After", "1");
    return out;
}

inline void send_response(trib_http_response *resp, const HttpResponse &r) {
    std::vector<trib_header> hs;
    hs.reserve(r.headers.size());
    for (auto &h : r.headers) hs.push_back(trib_header{sizeof(trib_header), view(h.first), view(h.second)});
    resp->respond(resp, r.status, view(r.content_type), hs.empty() ? nullptr : hs.data(), hs.size(),
                  bytes_view(r.body));
}

using HttpHandler = std::function<HttpResponse(const HttpRequest &)>;

// ------------------------------------------------------------------ host wrapper

// What a module instance holds to talk to the host. Thread-safety follows plugin.h.
class Host {
  public:
    Host(const trib_host_api_t *api, trib_host_ctx *ctx) : api_(api), ctx_(ctx) {}
    Host(const Host &) = delete;
    Host &operator=(const Host &) = delete;

    const trib_host_api_t *api() const { return api_; }
    trib_host_ctx *ctx() const { return ctx_; }

    void log(trib_log_level lvl, std::string_view msg) const { api_->log(ctx_, lvl, view(msg)); }
    void debug(std::string_view m) const { log(TRIB_LOG_DEBUG, m); }
    void info(std::string_view m) const { log(TRIB_LOG_INFO, m); }
    void warn(std::string_view m) const { log(TRIB_LOG_WARN, m); }
    void error(std::string_view m) const { log(TRIB_LOG_ERROR, m); }

    trib_status emit(const std::vector<Point> &points) const {
        BatchView v(points);
        return api_->emit(ctx_, v.get());
    }
    // Single point: copies it once into a one-element vector (attachment bytes are shared,
    // not copied). Prefer emit(vector) for batches.
    trib_status emit(const Point &p) const {
        std::vector<Point> one;
        one.reserve(1);
        one.push_back(p);
        return emit(one);
    }

    std::map<std::string, std::string> global_tags() const {
        std::map<std::string, std::string> out;
        api_->global_tags(
            ctx_,
            [](void *u, trib_str k, trib_str v) {
                (*static_cast<std::map<std::string, std::string> *>(u))[std::string(sv(k))] = std::string(sv(v));
            },
            &out);
        return out;
    }

    bool is_leader() const { return api_->is_leader(ctx_); }

    // The handler must stay callable until the instance's stop() returns: it is owned by
    // this Host object.
    void add_route(std::string method, std::string path, uint64_t max_body_bytes, HttpHandler handler) {
        add_route_flags(std::move(method), std::move(path), max_body_bytes, std::move(handler), 0);
    }

#if TRIB_ABI_TARGET_MINOR >= 3
    // A route for every path under `prefix` (which ends in '/'); the handler reads the rest
    // of the path from HttpRequest::path. Throws UNSUPPORTED on a host older than 1.3,
    // which would take the prefix for an exact path.
    void add_prefix_route(std::string method, std::string prefix, uint64_t max_body_bytes, HttpHandler handler) {
        if (api_->abi_minor < 3)
            throw StatusError(TRIB_UNSUPPORTED, "prefix routes need a host with ABI 1.3 (this one has 1." +
                                                    std::to_string(api_->abi_minor) + ")");
        add_route_flags(std::move(method), std::move(prefix), max_body_bytes, std::move(handler),
                        TRIB_ROUTE_PATH_PREFIX);
    }
#endif

  private:
    void add_route_flags(std::string method, std::string path, uint64_t max_body_bytes, HttpHandler handler,
                         uint32_t flags) {
        auto owned = std::make_unique<RouteState>();
        owned->method = std::move(method);
        owned->path = std::move(path);
        owned->handler = std::move(handler);
        owned->host = this;
        trib_http_route r{};
        r.struct_size = sizeof(trib_http_route);
        r.method = view(owned->method);
        r.path = view(owned->path);
        r.max_body_bytes = max_body_bytes;
        r.handler = &Host::dispatch;
        r.user = owned.get();
#if TRIB_ABI_TARGET_MINOR >= 3
        r.flags = flags;
#else
        (void)flags;
#endif
        char err[512] = {0};
        trib_status st = api_->http_route_add(ctx_, &r, err, sizeof err);
        if (st != TRIB_OK) throw StatusError(st, std::string("cannot register route ") + owned->path + ": " + err);
        routes_.push_back(std::move(owned));
    }

  public:
    uint64_t start_timer(uint64_t period_ms, std::function<void()> fn) {
        auto owned = std::make_unique<std::function<void()>>(std::move(fn));
        uint64_t id = api_->timer_start(
            ctx_, period_ms,
            [](void *u) {
                try {
                    (*static_cast<std::function<void()> *>(u))();
                } catch (...) {}
            },
            owned.get());
        if (id == 0) throw StatusError(TRIB_FATAL, "the host refused to start a timer");
        timers_[id] = std::move(owned);
        return id;
    }
    // Returns once the callback is not running; then frees it.
    void stop_timer(uint64_t id) {
        api_->timer_stop(ctx_, id);
        timers_.erase(id);
    }

    // Minor-1 services; harmless no-ops on a minor-0 host.
    void counter_add(std::string_view name, double delta) const {
#if TRIB_ABI_TARGET_MINOR >= 1
        if (TRIB_HAS_FIELD(trib_host_api_t, api_, counter_add) && api_->counter_add)
            api_->counter_add(ctx_, view(name), delta);
#else
        (void)name;
        (void)delta;
#endif
    }
    // Minor-2: the host-wide budget for data in flight (plugin.h). A host without it
    // allows everything. Prefer MemoryReservation, which gives the bytes back.
    trib_status memory_reserve(uint64_t bytes) const {
#if TRIB_ABI_TARGET_MINOR >= 2
        if (bytes && TRIB_HAS_FIELD(trib_host_api_t, api_, memory_reserve) && api_->memory_reserve &&
            TRIB_HAS_FIELD(trib_host_api_t, api_, memory_release) && api_->memory_release)
            return api_->memory_reserve(ctx_, bytes);
#else
        (void)bytes;
#endif
        return TRIB_OK;
    }
    // Only for bytes memory_reserve answered OK for (on a host without the budget that
    // was a no-op, and so is this).
    void memory_release(uint64_t bytes) const {
#if TRIB_ABI_TARGET_MINOR >= 2
        if (bytes && TRIB_HAS_FIELD(trib_host_api_t, api_, memory_reserve) && api_->memory_reserve &&
            TRIB_HAS_FIELD(trib_host_api_t, api_, memory_release) && api_->memory_release)
            api_->memory_release(ctx_, bytes);
#else
        (void)bytes;
#endif
    }

    std::string data_dir() const {
#if TRIB_ABI_TARGET_MINOR >= 1
        if (TRIB_HAS_FIELD(trib_host_api_t, api_, data_dir) && api_->data_dir)
            return std::string(sv(api_->data_dir(ctx_)));
#endif
        return std::string();
    }

  private:
    struct RouteState {
        std::string method, path;
        HttpHandler handler;
        const Host *host = nullptr;
    };
    static void dispatch(void *user, const trib_http_request *req, trib_http_response *resp) {
        auto *st = static_cast<RouteState *>(user);
        HttpResponse out;
        try {
            out = st->handler(HttpRequest(*req));
        } catch (const MemoryRefused &e) {
            out = refusal_response(e.status, e.what()); // 429 + Retry-After, or 413
        } catch (const StatusError &e) {
            // A handler's own INVALID_ARGUMENT is a bad request; the rest map like emit's.
            out = e.status == TRIB_INVALID_ARGUMENT ? HttpResponse::text(400, std::string(e.what()) + "\n")
                                                    : refusal_response(e.status, e.what());
        } catch (const std::bad_alloc &) {
            out = refusal_response(TRIB_RETRY, "collector is out of memory for this request: retry later");
        } catch (const std::exception &e) {
            // The text is for the operator: an internal message can leak details and
            // means nothing to the client.
            st->host->error("handler for " + st->path + " failed: " + e.what());
            out = HttpResponse::text(500, "internal error\n");
        } catch (...) {
            out = HttpResponse::text(500, "internal error\n");
        }
        send_response(resp, out);
    }

    const trib_host_api_t *api_;
    trib_host_ctx *ctx_;
    std::vector<std::unique_ptr<RouteState>> routes_;
    std::map<uint64_t, std::unique_ptr<std::function<void()>>> timers_;
};

// Bytes held in the host-wide in-flight budget for one request's data (a body the module
// keeps, a decompressed part, a decoded profile); given back on destruction. A refusal
// throws MemoryRefused with the host's status — BACKPRESSURE (spent right now: 429) or
// INVALID_ARGUMENT (more than the whole budget: 413) — which refusal_response maps.
class MemoryReservation {
  public:
    // No host: nothing is accounted (tools, unit tests).
    explicit MemoryReservation(const Host *host = nullptr) : host_(host) {}
    ~MemoryReservation() { release(); }
    MemoryReservation(const MemoryReservation &) = delete;
    MemoryReservation &operator=(const MemoryReservation &) = delete;
    MemoryReservation(MemoryReservation &&o) noexcept : host_(o.host_), held_(o.held_) { o.held_ = 0; }
    MemoryReservation &operator=(MemoryReservation &&o) noexcept {
        if (this != &o) {
            release();
            host_ = o.host_;
            held_ = o.held_;
            o.held_ = 0;
        }
        return *this;
    }

    // Takes `bytes` more; `what` names the data in the refusal message.
    void add(uint64_t bytes, std::string_view what = "request data") {
        if (!host_ || bytes == 0) return;
        trib_status st = host_->memory_reserve(bytes);
        if (st != TRIB_OK)
            throw MemoryRefused(st, std::string(st == TRIB_BACKPRESSURE ? "collector memory for requests in flight is "
                                                                          "spent: retry later ("
                                                                        : "more than the collector's whole memory "
                                                                          "budget for requests in flight (") +
                                        std::string(what) + ", " + std::to_string(held_ + bytes) + " bytes)");
        held_ += bytes;
    }
    // Raises the reservation to at least `total` bytes.
    void ensure(uint64_t total, std::string_view what = "request data") {
        if (total > held_) add(total - held_, what);
    }
    void release() {
        if (host_ && held_) host_->memory_release(held_);
        held_ = 0;
    }
    uint64_t held() const { return held_; }

  private:
    const Host *host_;
    uint64_t held_ = 0;
};

// ------------------------------------------------------------------ module adapter

// Base class for a module instance written in C++. Override what you need; the adapter
// below turns exceptions into statuses and messages.
class Instance {
  public:
    Instance(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name)
        : host_(api, ctx), name_(std::move(name)) {}
    virtual ~Instance() = default;
    virtual void start() {}
    virtual void stop() {}
    virtual void on_leadership(bool) {}
    // Empty string = healthy.
    virtual std::string health() { return {}; }
    // Sinks: write a batch; throw StatusError(TRIB_RETRY, ...) to retry.
    virtual void write(const trib_batch &) { throw StatusError(TRIB_UNSUPPORTED, "not a sink"); }

    Host &host() { return host_; }
    const std::string &instance_name() const { return name_; }

  private:
    Host host_;
    std::string name_;
};

namespace detail {
template <class F>
trib_status guarded(char *err, size_t cap, F &&f) {
    try {
        f();
        return TRIB_OK;
    } catch (const StatusError &e) {
        write_error(err, cap, e.what());
        return e.status;
    } catch (const std::bad_alloc &) {
        write_error(err, cap, "out of memory");
        return TRIB_RETRY;
    } catch (const std::exception &e) {
        write_error(err, cap, e.what());
        return TRIB_INVALID_ARGUMENT;
    } catch (...) {
        write_error(err, cap, "unknown error");
        return TRIB_FATAL;
    }
}

// T must be constructible as T(const trib_host_api_t*, trib_host_ctx*, std::string name,
// std::string config_json) and derive from Instance.
template <class T>
struct Adapter {
    static trib_status create(const trib_host_api_t *api, trib_host_ctx *ctx, trib_str name, trib_str cfg, void **out,
                              char *err, size_t cap) {
        return guarded(err, cap, [&] {
            *out = static_cast<Instance *>(new T(api, ctx, std::string(sv(name)), std::string(sv(cfg))));
        });
    }
    static trib_status start(void *inst, char *err, size_t cap) {
        return guarded(err, cap, [&] { static_cast<Instance *>(inst)->start(); });
    }
    static void stop(void *inst) {
        try {
            static_cast<Instance *>(inst)->stop();
        } catch (...) {}
    }
    static void destroy(void *inst) {
        try {
            delete static_cast<Instance *>(inst);
        } catch (...) {}
    }
    static trib_status write(void *inst, const trib_batch *b, char *err, size_t cap) {
        return guarded(err, cap, [&] { static_cast<Instance *>(inst)->write(*b); });
    }
    static void on_leadership(void *inst, bool leader) {
        try {
            static_cast<Instance *>(inst)->on_leadership(leader);
        } catch (...) {}
    }
    static trib_status health(void *inst, char *msg, size_t cap) {
        try {
            std::string h = static_cast<Instance *>(inst)->health();
            if (h.empty()) return TRIB_OK;
            write_error(msg, cap, h);
            return TRIB_RETRY;
        } catch (const std::exception &e) {
            write_error(msg, cap, e.what());
            return TRIB_FATAL;
        } catch (...) {
            write_error(msg, cap, "unknown error");
            return TRIB_FATAL;
        }
    }
};

// T::kModuleFlags when the class declares it, else 0 (C++17: no requires-expression).
template <class T>
constexpr auto module_flags(int) -> decltype(uint32_t(T::kModuleFlags)) {
    return T::kModuleFlags;
}
template <class T>
constexpr uint32_t module_flags(long) {
    return 0;
}

template <class T>
trib_module_t make_descriptor(const char *name, const char *version, trib_module_kind kind, const char *description,
                              const char *sample_config, const char *config_table = nullptr) {
    trib_module_t m{};
    m.struct_size = sizeof(trib_module_t);
    m.abi_major = TRIB_ABI_MAJOR;
    m.abi_minor = TRIB_ABI_MINOR;
    m.name = name;
    m.version = version;
    m.kind = kind;
    m.description = description;
    m.sample_config = sample_config;
    m.create = &Adapter<T>::create;
    m.start = &Adapter<T>::start;
    m.stop = &Adapter<T>::stop;
    m.destroy = &Adapter<T>::destroy;
    m.write = kind == TRIB_KIND_SINK ? &Adapter<T>::write : nullptr;
#if TRIB_ABI_TARGET_MINOR >= 1
    m.on_leadership = &Adapter<T>::on_leadership;
    m.health = &Adapter<T>::health;
#endif
#if TRIB_ABI_TARGET_MINOR >= 4
    m.config_table = config_table;
#else
    (void)config_table;
#endif
#if TRIB_ABI_TARGET_MINOR >= 5
    // A module class says `static constexpr uint32_t kModuleFlags = TRIB_MODULE_...;`.
    m.flags = module_flags<T>(0);
#endif
    return m;
}
} // namespace detail

} // namespace trib

// Defines the two exported symbols for a module whose instance class is T.
#define TRIB_DEFINE_MODULE(T, NAME, VERSION, KIND, DESCRIPTION, SAMPLE_CONFIG)                                         \
    extern "C" TRIB_EXPORT uint32_t trib_module_abi_major(void) { return TRIB_ABI_MAJOR; }                             \
    extern "C" TRIB_EXPORT const trib_module_t *trib_module_entry(uint32_t host_major, uint32_t) {                     \
        static const trib_module_t desc =                                                                              \
            ::trib::detail::make_descriptor<T>(NAME, VERSION, KIND, DESCRIPTION, SAMPLE_CONFIG);                       \
        return host_major == TRIB_ABI_MAJOR ? &desc : nullptr;                                                         \
    }

// As TRIB_DEFINE_MODULE, and the descriptor carries the module's declared config keys
// (ABI 1.4): CONFIG_TABLE is an expression giving static JSON text, usually
// `my_config_map().describe_c_str()` (tributary/config_map.hpp). Evaluated once.
#define TRIB_DEFINE_MODULE_WITH_CONFIG(T, NAME, VERSION, KIND, DESCRIPTION, SAMPLE_CONFIG, CONFIG_TABLE)               \
    extern "C" TRIB_EXPORT uint32_t trib_module_abi_major(void) { return TRIB_ABI_MAJOR; }                             \
    extern "C" TRIB_EXPORT const trib_module_t *trib_module_entry(uint32_t host_major, uint32_t) {                     \
        static const trib_module_t desc =                                                                              \
            ::trib::detail::make_descriptor<T>(NAME, VERSION, KIND, DESCRIPTION, SAMPLE_CONFIG, CONFIG_TABLE);         \
        return host_major == TRIB_ABI_MAJOR ? &desc : nullptr;                                                         \
    }

#endif // TRIBUTARY_PLUGIN_HPP
