// A fake host for unit-testing modules without the real host: it implements every entry
// of trib_host_api_t in memory. Points emitted are deep-copied into `points()`; routes
// registered can be called with `http()`; timers fire only when `fire_timers()` is called.
// Header-only, C++17, no dependencies beyond the SDK.
#ifndef TRIBUTARY_TESTING_FAKE_HOST_HPP
#define TRIBUTARY_TESTING_FAKE_HOST_HPP

#include <tributary/plugin.hpp>

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace trib::testing {

struct LogLine {
    trib_log_level level;
    std::string message;
};

struct FakeResponse {
    uint32_t status = 0;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(std::string_view name) const {
        for (auto &h : headers)
            if (HttpRequest::iequals(h.first, name)) return h.second;
        return {};
    }
};

class FakeHost;

// trib_host_ctx is opaque to modules; the fake host's is this struct.
} // namespace trib::testing

struct trib_host_ctx {
    trib::testing::FakeHost *host;
};

namespace trib::testing {

class FakeHost {
  public:
    FakeHost() {
        api_.struct_size = sizeof(trib_host_api_t);
        api_.abi_major = TRIB_ABI_MAJOR;
        api_.abi_minor = TRIB_ABI_MINOR;
        api_.log = &FakeHost::c_log;
        api_.emit = &FakeHost::c_emit;
        api_.global_tags = &FakeHost::c_global_tags;
        api_.is_leader = &FakeHost::c_is_leader;
        api_.http_route_add = &FakeHost::c_route_add;
        api_.timer_start = &FakeHost::c_timer_start;
        api_.timer_stop = &FakeHost::c_timer_stop;
#if TRIB_ABI_TARGET_MINOR >= 1
        api_.counter_add = &FakeHost::c_counter_add;
        api_.data_dir = &FakeHost::c_data_dir;
#endif
        ctx_.host = this;
        char tmpl[] = "/tmp/trib-fakehost-XXXXXX";
        if (char *d = mkdtemp(tmpl)) data_dir_ = d;
    }
    ~FakeHost() {
        destroy();
        if (!data_dir_.empty() && remove_data_dir_) {
            std::string cmd = "rm -rf '" + data_dir_ + "'";
            int rc = std::system(cmd.c_str());
            (void)rc;
        }
    }
    FakeHost(const FakeHost &) = delete;
    FakeHost &operator=(const FakeHost &) = delete;

    const trib_host_api_t *api() { return &api_; }
    trib_host_ctx *ctx() { return &ctx_; }

    // --- knobs
    void set_leader(bool v) { leader_ = v; }
    void set_backpressure(bool v) { backpressure_ = v; }
    void set_global_tag(std::string k, std::string v) {
        std::lock_guard<std::mutex> g(mu_);
        global_tags_[std::move(k)] = std::move(v);
    }
    // Use an existing directory as the instance data dir (kept after the test).
    void set_data_dir(std::string d) {
        data_dir_ = std::move(d);
        remove_data_dir_ = false;
    }
    const std::string &data_dir() const { return data_dir_; }

    // --- lifecycle of one module instance (descriptor linked in or loaded with load_so)
    trib_status create(const trib_module_t *mod, std::string_view name, std::string_view config_json,
                       std::string *err_out = nullptr) {
        destroy(); // one instance per FakeHost: a second create() replaces the first
        {
            std::lock_guard<std::mutex> g(mu_);
            routes_.clear();
            timers_.clear();
        }
        mod_ = mod;
        char err[1024] = {0};
        trib_status st = mod->create(&api_, &ctx_, view(name), view(config_json), &instance_, err, sizeof err);
        if (err_out) *err_out = err;
        if (st != TRIB_OK) instance_ = nullptr;
        return st;
    }
    trib_status start(std::string *err_out = nullptr) {
        char err[1024] = {0};
        trib_status st = mod_->start(instance_, err, sizeof err);
        if (err_out) *err_out = err;
        return st;
    }
    void stop() {
        if (instance_ && mod_) {
            std::lock_guard<std::mutex> g(mu_);
            routes_.clear();
            timers_.clear();
        }
        if (instance_ && mod_) mod_->stop(instance_);
    }
    void destroy() {
        if (instance_ && mod_) mod_->destroy(instance_);
        instance_ = nullptr;
    }
    void leadership(bool v) {
        leader_ = v;
#if TRIB_ABI_TARGET_MINOR >= 1
        if (instance_ && TRIB_HAS_FIELD(trib_module_t, mod_, on_leadership) && mod_->on_leadership)
            mod_->on_leadership(instance_, v);
#endif
    }
    void *instance() const { return instance_; }

    // dlopen()s a module file and returns its descriptor (nullptr + message on failure).
    static const trib_module_t *load_so(const std::string &path, std::string *err) {
        void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            if (err) *err = dlerror();
            return nullptr;
        }
        auto probe = reinterpret_cast<trib_module_abi_major_fn>(dlsym(h, TRIB_ABI_PROBE_SYMBOL));
        if (!probe) {
            if (err) *err = "missing symbol " TRIB_ABI_PROBE_SYMBOL;
            return nullptr;
        }
        if (uint32_t major = probe(); major != TRIB_ABI_MAJOR) {
            if (err) *err = "ABI major " + std::to_string(major) + ", host speaks " + std::to_string(TRIB_ABI_MAJOR);
            return nullptr;
        }
        auto entry = reinterpret_cast<trib_module_entry_fn>(dlsym(h, TRIB_ENTRY_SYMBOL));
        if (!entry) {
            if (err) *err = "no entry symbol";
            return nullptr;
        }
        return entry(TRIB_ABI_MAJOR, TRIB_ABI_MINOR);
    }

    // --- observations
    std::vector<Point> points() const {
        std::lock_guard<std::mutex> g(mu_);
        return points_;
    }
    void clear_points() {
        std::lock_guard<std::mutex> g(mu_);
        points_.clear();
    }
    std::vector<LogLine> logs() const {
        std::lock_guard<std::mutex> g(mu_);
        return logs_;
    }
    double counter(const std::string &name) const {
        std::lock_guard<std::mutex> g(mu_);
        auto it = counters_.find(name);
        return it == counters_.end() ? 0 : it->second;
    }
    bool has_route(std::string_view method, std::string_view path) const {
        std::lock_guard<std::mutex> g(mu_);
        for (auto &r : routes_)
            if (r.path == path && (r.method.empty() || r.method == method)) return true;
        return false;
    }

    // Calls a registered route as the real host would (413 over the limit, 404 unknown).
    FakeResponse http(std::string_view method, std::string_view path_and_query, std::string_view body,
                      std::string_view content_type = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
        std::string path(path_and_query), query;
        if (auto q = path.find('?'); q != std::string::npos) {
            query = path.substr(q + 1);
            path.resize(q);
        }
        Route route;
        {
            std::lock_guard<std::mutex> g(mu_);
            bool found = false;
            for (auto &r : routes_)
                if (r.path == path && (r.method.empty() || r.method == method)) {
                    route = r;
                    found = true;
                    break;
                }
            if (!found) {
                FakeResponse nf;
                nf.status = 404;
                nf.body = "no route";
                return nf;
            }
        }
        FakeResponse out;
        if (route.max_body_bytes && body.size() > route.max_body_bytes) {
            out.status = 413;
            out.body = "body too large";
            return out;
        }
        std::vector<trib_header> hs;
        bool has_ct = false;
        for (auto &h : headers) has_ct = has_ct || HttpRequest::iequals(h.first, "Content-Type");
        if (!content_type.empty() && !has_ct) headers.emplace_back("Content-Type", std::string(content_type));
        for (auto &h : headers) hs.push_back(trib_header{sizeof(trib_header), view(h.first), view(h.second)});
        trib_http_request req{};
        req.struct_size = sizeof req;
        req.method = view(method);
        req.path = view(path);
        req.query = view(query);
        req.content_type = view(content_type);
        req.headers = hs.empty() ? nullptr : hs.data();
        req.header_count = hs.size();
        req.body = bytes_view(body);
        req.remote_addr = view("127.0.0.1:1");
        struct Resp {
            trib_http_response base;
            FakeResponse *out;
        } resp{};
        resp.base.struct_size = sizeof(trib_http_response);
        resp.base.respond = [](trib_http_response *self, uint32_t status, trib_str ct, const trib_header *h, size_t n,
                               trib_bytes b) {
            FakeResponse *o = reinterpret_cast<Resp *>(self)->out;
            o->status = status;
            o->content_type = std::string(sv(ct));
            o->headers.clear();
            for (size_t i = 0; i < n; ++i) {
                const trib_header *x = TRIB_AT(trib_header, h, i);
                o->headers.emplace_back(std::string(sv(x->name)), std::string(sv(x->value)));
            }
            o->body = std::string(sv(b));
        };
        resp.out = &out;
        route.handler(route.user, &req, &resp.base);
        if (out.status == 0) {
            out.status = 500;
            out.body = "handler did not respond";
        }
        return out;
    }

    // Runs every registered timer callback once, on the calling thread.
    void fire_timers() {
        std::vector<Timer> ts;
        {
            std::lock_guard<std::mutex> g(mu_);
            for (auto &kv : timers_) ts.push_back(kv.second);
        }
        for (auto &t : ts) t.fn(t.user);
    }

  private:
    struct Route {
        std::string method, path;
        uint64_t max_body_bytes = 0;
        trib_http_handler_fn handler = nullptr;
        void *user = nullptr;
    };
    struct Timer {
        uint64_t period_ms;
        trib_timer_fn fn;
        void *user;
    };

    static FakeHost *self(trib_host_ctx *c) { return c->host; }
    static void c_log(trib_host_ctx *c, trib_log_level l, trib_str m) {
        auto *h = self(c);
        std::lock_guard<std::mutex> g(h->mu_);
        h->logs_.push_back(LogLine{l, std::string(sv(m))});
    }
    static trib_status c_emit(trib_host_ctx *c, const trib_batch *b) {
        auto *h = self(c);
        if (!b || (b->point_count && !b->points)) return TRIB_INVALID_ARGUMENT;
        if (h->backpressure_) return TRIB_BACKPRESSURE;
        auto pts = copy_batch(*b);
        std::lock_guard<std::mutex> g(h->mu_);
        for (auto &p : pts) {
            for (auto &kv : h->global_tags_)
                if (!p.find_tag(kv.first)) p.tag(kv.first, kv.second);
            h->points_.push_back(std::move(p));
        }
        return TRIB_OK;
    }
    static void c_global_tags(trib_host_ctx *c, trib_tag_visit_fn visit, void *user) {
        auto *h = self(c);
        std::map<std::string, std::string> copy;
        {
            std::lock_guard<std::mutex> g(h->mu_);
            copy = h->global_tags_;
        }
        for (auto &kv : copy) visit(user, view(kv.first), view(kv.second));
    }
    static bool c_is_leader(trib_host_ctx *c) { return self(c)->leader_.load(); }
    static trib_status c_route_add(trib_host_ctx *c, const trib_http_route *r, char *err, size_t cap) {
        auto *h = self(c);
        std::lock_guard<std::mutex> g(h->mu_);
        for (auto &x : h->routes_)
            if (x.path == sv(r->path) && x.method == sv(r->method)) {
                write_error(err, cap, "route already registered");
                return TRIB_INVALID_ARGUMENT;
            }
        h->routes_.push_back(
            Route{std::string(sv(r->method)), std::string(sv(r->path)), r->max_body_bytes, r->handler, r->user});
        return TRIB_OK;
    }
    static uint64_t c_timer_start(trib_host_ctx *c, uint64_t period, trib_timer_fn fn, void *user) {
        auto *h = self(c);
        std::lock_guard<std::mutex> g(h->mu_);
        uint64_t id = ++h->next_timer_;
        h->timers_[id] = Timer{period, fn, user};
        return id;
    }
    static void c_timer_stop(trib_host_ctx *c, uint64_t id) {
        auto *h = self(c);
        std::lock_guard<std::mutex> g(h->mu_);
        h->timers_.erase(id);
    }
    static void c_counter_add(trib_host_ctx *c, trib_str name, double d) {
        auto *h = self(c);
        std::lock_guard<std::mutex> g(h->mu_);
        h->counters_[std::string(sv(name))] += d;
    }
    static trib_str c_data_dir(trib_host_ctx *c) { return view(self(c)->data_dir_); }

    trib_host_api_t api_{};
    trib_host_ctx ctx_{};
    const trib_module_t *mod_ = nullptr;
    void *instance_ = nullptr;
    mutable std::mutex mu_;
    std::vector<Point> points_;
    std::vector<LogLine> logs_;
    std::map<std::string, std::string> global_tags_;
    std::map<std::string, double> counters_;
    std::vector<Route> routes_;
    std::map<uint64_t, Timer> timers_;
    uint64_t next_timer_ = 0;
    std::atomic<bool> leader_{true};
    std::atomic<bool> backpressure_{false};
    std::string data_dir_;
    bool remove_data_dir_ = true;
};

} // namespace trib::testing

#endif
