#include "instance.hpp"

#include "host/log.hpp"
#include "store/attachment_store.hpp"

#include <filesystem>

struct trib_host_ctx {
    trib::core::ModuleInstance *self;
};

namespace fs = std::filesystem;

namespace trib::core {

namespace {

std::string_view view_of(trib_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }

void api_log(trib_host_ctx *ctx, trib_log_level level, trib_str msg) {
    if (ctx) ctx->self->log(level, view_of(msg));
}
trib_status api_emit(trib_host_ctx *ctx, const trib_batch *batch) {
    return ctx ? ctx->self->emit(batch) : TRIB_INVALID_ARGUMENT;
}
void api_global_tags(trib_host_ctx *ctx, trib_tag_visit_fn visit, void *user) {
    if (ctx && visit) ctx->self->visit_global_tags(visit, user);
}
bool api_is_leader(trib_host_ctx *ctx) { return ctx && ctx->self->is_leader(); }
trib_status api_route_add(trib_host_ctx *ctx, const trib_http_route *route, char *err, size_t cap) {
    return ctx ? ctx->self->route_add(route, err, cap) : TRIB_INVALID_ARGUMENT;
}
uint64_t api_timer_start(trib_host_ctx *ctx, uint64_t period_ms, trib_timer_fn fn, void *user) {
    return ctx ? ctx->self->timer_start(period_ms, fn, user) : 0;
}
void api_timer_stop(trib_host_ctx *ctx, uint64_t id) {
    if (ctx) ctx->self->timer_stop(id);
}
void api_counter_add(trib_host_ctx *ctx, trib_str name, double delta) {
    if (ctx) ctx->self->counter_add(view_of(name), delta);
}
trib_str api_data_dir(trib_host_ctx *ctx) { return ctx ? ctx->self->data_dir_view() : trib_str{"", 0}; }
trib_status api_memory_reserve(trib_host_ctx *ctx, uint64_t bytes) {
    return ctx ? ctx->self->memory_reserve(bytes) : TRIB_INVALID_ARGUMENT;
}
void api_memory_release(trib_host_ctx *ctx, uint64_t bytes) {
    if (ctx) ctx->self->memory_release(bytes);
}

const trib_host_api_t g_api = [] {
    trib_host_api_t a{};
    a.struct_size = sizeof(trib_host_api_t);
    a.abi_major = TRIB_ABI_MAJOR;
    a.abi_minor = TRIB_ABI_MINOR_CURRENT;
    a.log = &api_log;
    a.emit = &api_emit;
    a.global_tags = &api_global_tags;
    a.is_leader = &api_is_leader;
    a.http_route_add = &api_route_add;
    a.timer_start = &api_timer_start;
    a.timer_stop = &api_timer_stop;
    a.counter_add = &api_counter_add;
    a.data_dir = &api_data_dir;
    a.memory_reserve = &api_memory_reserve;
    a.memory_release = &api_memory_release;
    return a;
}();

void add_missing_tags(trib::Point &p, const std::vector<std::pair<std::string, std::string>> &tags) {
    for (auto &kv : tags)
        if (!p.find_tag(kv.first)) p.tags.emplace_back(kv.first, kv.second);
}

} // namespace

const trib_host_api_t *ModuleInstance::host_api() { return &g_api; }

ModuleInstance::ModuleInstance(HostServices &services, const LoadedModule &module, std::string instance_name,
                               nlohmann::json config, std::vector<std::pair<std::string, std::string>> tags,
                               bool election)
    : services_(services), module_(module), name_(std::move(instance_name)), config_json_(config.dump()),
      tags_(std::move(tags)), election_(election), ctx_(std::make_unique<trib_host_ctx>()) {
    ctx_->self = this;
    state_dir_ = (fs::path(services_.data_dir) / "state" / module_.name / name_).string();
}

ModuleInstance::~ModuleInstance() { stop_and_destroy(); }

bool ModuleInstance::create(std::string &err) {
    std::error_code ec;
    fs::create_directories(state_dir_, ec);
    if (ec) {
        err = "cannot create state dir " + state_dir_ + ": " + ec.message();
        return false;
    }
    if (module_.kind == TRIB_KIND_INPUT && services_.bus) {
        try {
            auto setup = input_spool_setup(nlohmann::json::parse(config_json_.empty() ? "{}" : config_json_),
                                           services_.data_dir, (fs::path(state_dir_) / "spool").string());
            if (setup) {
                std::string source = id();
                spool_ = std::make_unique<InputSpool>(
                    source, std::move(*setup),
                    [this](std::vector<trib::Point> &&points, std::string &e, std::function<void()> released) {
                        size_t n = points.size();
                        uint64_t bytes = 0;
                        trib_status st = services_.bus->emit(std::move(points), bytes, e, std::move(released));
                        if (st == TRIB_OK) {
                            stats_.emitted_points += n;
                            stats_.emitted_bytes += bytes;
                        }
                        return st;
                    },
                    [source](trib_log_level lvl, const std::string &msg) { log_message(lvl, source, msg); });
            }
        } catch (const std::exception &e) {
            err = std::string("disk spool: ") + e.what();
            return false;
        }
    }
    char buf[1024] = {0};
    void *inst = nullptr;
    trib_status st = module_.desc->create(&g_api, ctx_.get(), trib_str{name_.data(), name_.size()},
                                          trib_str{config_json_.data(), config_json_.size()}, &inst, buf, sizeof buf);
    if (st != TRIB_OK || !inst) {
        err = buf[0] ? buf : (st == TRIB_OK ? "create returned no instance" : "create failed");
        if (inst) module_.desc->destroy(inst);
        return false;
    }
    instance_ = inst;
    return true;
}

bool ModuleInstance::start(std::string &err) {
    if (!instance_) {
        err = "not created";
        return false;
    }
    if (spool_) spool_->start(); // records spooled before a restart flow again first
    char buf[1024] = {0};
    trib_status st = module_.desc->start(instance_, buf, sizeof buf);
    if (st != TRIB_OK) {
        err = buf[0] ? buf : "start failed";
        // Whatever start() registered before failing goes away with it.
        if (services_.http) services_.http->remove_routes(id());
        std::set<uint64_t> timers;
        {
            std::lock_guard<std::mutex> lk(mu_);
            timers.swap(timers_);
        }
        for (auto t : timers) services_.timers->stop(t);
        module_.desc->stop(instance_);
        return false;
    }
    started_ = true;
    return true;
}

void ModuleInstance::stop_and_destroy() {
    if (!instance_) return;
    if (services_.http) services_.http->remove_routes(id());
    std::set<uint64_t> timers;
    {
        std::lock_guard<std::mutex> lk(mu_);
        timers.swap(timers_);
    }
    for (auto t : timers) services_.timers->stop(t);
    if (started_) module_.desc->stop(instance_);
    started_ = false;
    if (spool_) spool_->stop(); // what is still spooled is delivered after the next start
    module_.desc->destroy(instance_);
    instance_ = nullptr;
}

void ModuleInstance::notify_leadership(bool leader) {
    if (instance_ && started_ && module_.has_on_leadership()) module_.desc->on_leadership(instance_, leader);
}

std::string ModuleInstance::health() {
    if (!instance_ || !module_.has_health()) return std::string();
    char buf[512] = {0};
    trib_status st = module_.desc->health(instance_, buf, sizeof buf);
    if (st == TRIB_OK) return std::string();
    return buf[0] ? buf : "unhealthy";
}

std::map<std::string, double> ModuleInstance::counters() const {
    std::lock_guard<std::mutex> lk(mu_);
    return counters_;
}

trib_status ModuleInstance::emit(const trib_batch *batch) {
    if (!batch || (batch->point_count && !batch->points)) return TRIB_INVALID_ARGUMENT;
    if (batch->point_count == 0) return TRIB_OK;
    // Sink modules write points; letting them emit would loop points back into the bus.
    if (!services_.bus || module_.kind == TRIB_KIND_SINK) return TRIB_UNSUPPORTED;
    // With a store, attachment bytes are written to it from the module's own view (below),
    // never copied into the host: the points are copied without them.
    std::vector<trib::Point> points;
    std::vector<std::vector<std::string_view>> borrowed;
    bool has_attachments = false;
    // Spent points are written over first (their strings keep their capacity).
    points.reserve(batch->point_count);
    services_.bus->recycler().take(points, batch->point_count);
    const size_t reused = points.size();
    const size_t spare_tags = tags_.size() + services_.global_tags.size();
    auto put = [&](size_t i, const trib_point &cp) {
        if (i < reused) points[i].assign(cp, spare_tags);
        else points.push_back(trib::copy_point(cp, spare_tags));
    };
    for (size_t i = 0; i < batch->point_count; ++i) {
        const trib_point &cp = *TRIB_AT(trib_point, batch->points, i);
        if (!services_.attachments || !cp.attachment_count || !cp.attachments) {
            put(i, cp);
            continue;
        }
        trib_point head = cp;
        head.attachments = nullptr;
        head.attachment_count = 0;
        put(i, head);
        borrowed.resize(i + 1);
        for (size_t k = 0; k < cp.attachment_count; ++k) {
            const trib_attachment *a = TRIB_AT(trib_attachment, cp.attachments, k);
            trib::Attachment x;
            x.name = std::string(trib::sv(a->name));
            x.content_type = std::string(trib::sv(a->content_type));
            points[i].attachments.push_back(std::move(x));
            borrowed.back().push_back(trib::sv(a->data));
        }
        has_attachments = true;
    }
    stats_.received_points += points.size();
    for (auto &p : points) {
        if (p.measurement.empty() || p.category.empty()) {
            stats_.dropped_points += points.size();
            log(TRIB_LOG_WARN, "emit refused: a point without measurement or category");
            return TRIB_INVALID_ARGUMENT;
        }
        // The point's own tags win, then the instance's `tags`, then the global tags.
        add_missing_tags(p, tags_);
        add_missing_tags(p, services_.global_tags);
    }
    size_t n = points.size();
    uint64_t bytes = 0;
    std::string err;
    trib_status st;
    std::vector<std::string> created_dirs;
    if (has_attachments) {
        // The bytes go to the store on this (the receiving) thread; the point carries a
        // reference. A spool that fsyncs every record gets files fsynced too.
        if (!services_.attachments->store_borrowed(points, borrowed, spool_ && spool_->syncs_every_record(), err,
                                                   &created_dirs)) {
            stats_.dropped_points += n;
            log(TRIB_LOG_WARN, "emit refused: attachment store: " + err);
            return TRIB_RETRY;
        }
    }
    if (spool_) {
        // Acknowledged once durable in the spool; its workers count the points emitted.
        st = spool_->accept(points, err);
    } else {
        st = services_.bus->emit(std::move(points), bytes, err);
        if (st == TRIB_OK) {
            stats_.emitted_points += n;
            stats_.emitted_bytes += bytes;
        }
    }
    if (st != TRIB_OK) {
        // Refused: no point will name what was just stored (the client sends it again).
        if (!created_dirs.empty()) services_.attachments->discard(created_dirs);
        stats_.dropped_points += n;
        if (st == TRIB_BACKPRESSURE) stats_.backpressure++;
        else log(TRIB_LOG_WARN, "emit refused: " + err);
    }
    return st;
}

void ModuleInstance::log(trib_log_level level, std::string_view msg) { log_message(level, id(), msg); }

void ModuleInstance::visit_global_tags(trib_tag_visit_fn visit, void *user) {
    for (auto &kv : services_.global_tags)
        visit(user, trib_str{kv.first.data(), kv.first.size()}, trib_str{kv.second.data(), kv.second.size()});
}

bool ModuleInstance::is_leader() {
    if (!election_ || !services_.is_leader) return true;
    return services_.is_leader();
}

trib_status ModuleInstance::route_add(const trib_http_route *route, char *err, size_t cap) {
    auto fail = [&](const std::string &m) {
        trib::write_error(err, cap, m);
        return TRIB_INVALID_ARGUMENT;
    };
    if (!route) return fail("no route given");
    if (!services_.http) return fail("this host has no HTTP listener");
    Route r;
    std::string e;
    if (!route_from_abi(*route, r, e)) return fail(e);
    r.owner = id();
    r.access = access_;
    if (!services_.http->add_route(r, e)) return fail(e);
    return TRIB_OK;
}

uint64_t ModuleInstance::timer_start(uint64_t period_ms, trib_timer_fn fn, void *user) {
    if (!fn || !services_.timers) return 0;
    uint64_t id = services_.timers->start(std::chrono::milliseconds(period_ms), [fn, user] { fn(user); });
    std::lock_guard<std::mutex> lk(mu_);
    timers_.insert(id);
    return id;
}

void ModuleInstance::timer_stop(uint64_t id) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!timers_.erase(id)) return;
    }
    services_.timers->stop(id);
}

trib_status ModuleInstance::memory_reserve(uint64_t bytes) {
    return services_.memory ? services_.memory->reserve(bytes) : TRIB_OK;
}

void ModuleInstance::memory_release(uint64_t bytes) {
    if (services_.memory) services_.memory->release(bytes);
}

void ModuleInstance::counter_add(std::string_view name, double delta) {
    if (name.empty()) return;
    std::lock_guard<std::mutex> lk(mu_);
    counters_[std::string(name)] += delta;
}

} // namespace trib::core
