#include "host.hpp"

#include "election/election_factory.hpp"
#include "host/log.hpp"
#include "host/metrics.hpp"
#include "sinks/module_sink.hpp"
#include "sinks/sink_factory.hpp"

#include <nlohmann/json.hpp>

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#ifndef TRIB_HOST_VERSION
#define TRIB_HOST_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace trib::core {

const char *host_version() { return TRIB_HOST_VERSION; }

HostApp::HostApp(CliOptions cli, Env env, std::string default_plugins_dir)
    : cli_(std::move(cli)), env_(std::move(env)), default_plugins_dir_(std::move(default_plugins_dir)) {}

HostApp::~HostApp() {
    if (bus_ || http_ || !inputs_.empty()) shutdown();
}

// An input and a sink may share a name (the `pyroscope` input receives, the `pyroscope`
// sink forwards): modules are looked up by name and kind.
const LoadedModule *find_module(const LoadResult &r, const std::string &name, trib_module_kind kind) {
    for (auto &m : r.modules)
        if (m.name == name && m.kind == kind) return &m;
    return nullptr;
}

bool HostApp::prepare(std::vector<std::string> &errors, std::vector<std::string> &warnings) {
    cfg_ = load_host_config(cli_, env_, default_plugins_dir_, errors);
    set_log_level(log_level_from_name(cfg_.log_level, TRIB_LOG_INFO));
    loaded_ = load_modules(cfg_.plugins_dir);
    std::vector<InputModuleInfo> input_modules;
    for (auto &m : loaded_.modules)
        if (m.kind == TRIB_KIND_INPUT) input_modules.push_back({m.name, m.sample_config});
    inputs_cfg_ = load_input_configs(cfg_, input_modules, env_, errors, warnings);
    check_host_config(cfg_, errors);
    return errors.empty();
}

void HostApp::check_host_config(const HostConfig &cfg, std::vector<std::string> &errors) {
    for (auto &s : cfg.sinks) {
        if (builtin_sink_type_known(s.type)) continue;
        if (find_module(loaded_, s.type, TRIB_KIND_SINK)) continue;
        std::string known;
        for (auto &t : builtin_sink_types()) known += (known.empty() ? "" : ", ") + t;
        for (auto &mm : loaded_.modules)
            if (mm.kind == TRIB_KIND_SINK) known += ", " + mm.name;
        errors.push_back(s.source + ": key 'type': unknown sink type '" + s.type + "' (known: " + known + ")");
    }
    std::string listen_host;
    uint16_t listen_port = 0;
    if (split_listen(cfg.listen, listen_host, listen_port)) {
        try {
            Poco::Net::SocketAddress resolved(listen_host, listen_port);
        } catch (const Poco::Exception &e) {
            errors.push_back(cfg.listen_source + ": '" + cfg.listen +
                             "': not an address to listen on: " + e.displayText());
        }
    }
    if (cfg.http.tls.enabled()) {
        try {
            TlsServerContext check(cfg.http.tls); // the files are read now, so --check-config sees them
        } catch (const std::exception &e) {
            errors.push_back((cfg.config_file.empty() ? std::string("[http]") : cfg.config_file) + ": " + e.what());
        }
    }
    if (cfg.election.enable && !election_backend_known(cfg.election.backend)) {
        std::string known;
        for (auto &b : election_backends()) known += (known.empty() ? "" : ", ") + b;
        errors.push_back((cfg.config_file.empty() ? std::string("election") : cfg.config_file) +
                         ": [election] key 'backend': unknown backend '" + cfg.election.backend + "' (" + known + ")");
    }
}

int HostApp::run() {
    if (cli_.list_plugins) return list_plugins();
    if (cli_.check_config) return check_config();
    return serve();
}

int HostApp::list_plugins() {
    std::vector<std::string> errors;
    cfg_ = load_host_config(cli_, env_, default_plugins_dir_, errors);
    loaded_ = load_modules(cfg_.plugins_dir);
    std::printf("%-16s %-10s %-6s %-5s %s\n", "NAME", "VERSION", "KIND", "ABI", "FILE");
    for (auto &m : loaded_.modules)
        std::printf("%-16s %-10s %-6s %u.%-3u %s\n", m.name.c_str(), m.version.c_str(),
                    m.kind == TRIB_KIND_SINK ? "sink" : "input", m.abi_major, m.abi_minor, m.file.c_str());
    for (auto &p : loaded_.problems) std::fprintf(stderr, "refused: %s\n", p.c_str());
    std::fflush(stdout);
    return 0;
}

void HostApp::validate_instances(const std::vector<SinkConfig> &sinks, const std::vector<InputConfig> &inputs,
                                 std::vector<std::string> &errors) {
    std::string tmpl = (fs::temp_directory_path() / "tributary-check-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
        errors.push_back("cannot create a temporary directory to check module configs: " +
                         std::string(std::strerror(errno)));
        return;
    }
    HostServices check_services;
    check_services.global_tags = cfg_.global_tags;
    check_services.data_dir = tmpl;
    SinkContext sctx{tmpl, cfg_.global_tags};
    for (auto &s : sinks) {
        try {
            if (builtin_sink_type_known(s.type)) {
                // The spool is left out: opening it could touch a running host's records.
                SinkConfig without_spool = s;
                if (without_spool.table.is_object()) without_spool.table.erase("spool");
                make_builtin_sink(without_spool, sctx);
                continue;
            }
            const LoadedModule *m = find_module(loaded_, s.type, TRIB_KIND_SINK);
            if (!m) continue; // reported by prepare()
            ModuleInstance inst(check_services, *m, s.name, s.table, {}, false);
            std::string err;
            if (!inst.create(err)) errors.push_back(s.source + ": sink module " + m->name + ": " + err);
        } catch (const std::exception &e) {
            errors.push_back(s.source + ": " + e.what());
        }
    }
    for (auto &ic : inputs) {
        const LoadedModule *m = find_module(loaded_, ic.module, TRIB_KIND_INPUT);
        if (!m) continue;
        if (!ic.disabled_reason.empty()) {
            errors.push_back(ic.source + ": [[inputs." + ic.module + "]] #" + ic.instance +
                             " stays off: " + ic.disabled_reason);
            continue;
        }
        ModuleInstance inst(check_services, *m, ic.instance, ic.table, ic.tags, ic.election);
        std::string err;
        if (!inst.create(err))
            errors.push_back(ic.source + ": [[inputs." + ic.module + "]] #" + ic.instance + ": " + err);
    }
    std::error_code ec;
    fs::remove_all(tmpl, ec);
}

void HostApp::start_failed(const std::string &kind, const std::string &name, const std::string &reason, bool optional) {
    if (optional)
        log_warn(kind + " " + name, "did not start (optional = true, so the host is ready without it): " + reason);
    else log_error(kind + " " + name, "did not start; /health reports not ready: " + reason);
    std::unique_lock<std::shared_mutex> lk(state_mu_);
    start_failures_.push_back({kind, name, reason, optional});
}

int HostApp::check_config() {
    std::vector<std::string> errors, warnings;
    if (prepare(errors, warnings)) validate_instances(cfg_.sinks, inputs_cfg_, errors);
    for (auto &p : loaded_.problems) std::fprintf(stderr, "module refused: %s\n", p.c_str());
    for (auto &w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (auto &e : errors) std::fprintf(stderr, "config error: %s\n", e.c_str());
    if (!errors.empty()) {
        std::fprintf(stderr, "%zu configuration error(s)\n", errors.size());
        return 1;
    }
    std::printf("configuration OK: %zu input instance(s), %zu sink(s), %zu module(s)\n", inputs_cfg_.size(),
                cfg_.sinks.size(), loaded_.modules.size());
    return 0;
}

int HostApp::serve() {
    std::vector<std::string> errors, warnings;
    prepare(errors, warnings);
    for (auto &p : loaded_.problems) log_error("loader", p);
    for (auto &w : warnings) log_warn("config", w);
    if (!errors.empty()) {
        for (auto &e : errors) log_error("config", e);
        return 1;
    }
    std::error_code ec;
    fs::create_directories(cfg_.data_dir, ec);
    if (ec) {
        log_error("host", "cannot create data dir " + cfg_.data_dir + ": " + ec.message());
        return 1;
    }

    timers_ = std::make_unique<TimerService>();
    bus_ = std::make_unique<Bus>(cfg_.bus);
    try {
        election_ = make_election(cfg_.election);
    } catch (const std::exception &e) {
        log_error("election", e.what());
        return 1;
    }
    std::string listen_host;
    uint16_t listen_port = 0;
    split_listen(cfg_.listen, listen_host, listen_port); // listen = "": listen_host stays empty, Unix socket only
    memory_ = std::make_unique<MemoryBudget>(cfg_.inflight_memory_bytes);
    http_ = std::make_unique<HttpServer>(
        listen_host, listen_port, cfg_.http, memory_.get(),
        [this](const std::string &m, const std::string &p) { return builtin_route(m, p); });
    services_.bus = bus_.get();
    services_.http = http_.get();
    services_.timers = timers_.get();
    services_.memory = memory_.get();
    services_.global_tags = cfg_.global_tags;
    services_.data_dir = cfg_.data_dir;
    // The attachment store backs the file sink's <data-dir>/attachments/ layout; without a
    // file sink, attachments ride with their points as before (a dataway-only host keeps
    // nothing on disk).
    bool file_sink = false;
    for (auto &s : cfg_.sinks) file_sink = file_sink || s.type == "file";
    if (file_sink) {
        AttachmentStoreConfig ac;
        ac.root = (fs::path(cfg_.data_dir) / "attachments").lexically_normal().string();
        ac.max_size_bytes = cfg_.attachments.max_size_bytes;
        ac.max_age = cfg_.attachments.max_age;
        attachments_ = std::make_unique<AttachmentStore>(ac);
        try {
            attachments_->start();
        } catch (const std::exception &e) {
            log_error("host", e.what());
            return 1;
        }
        services_.attachments = attachments_.get();
    }
    Election *el = election_.get();
    services_.is_leader = [el] { return el->is_leader(); };

    // Sinks first, so nothing an input emits has nowhere to go.
    SinkContext sctx{cfg_.data_dir, cfg_.global_tags};
    for (auto &s : cfg_.sinks) {
        try {
            std::unique_ptr<Sink> sink;
            if (builtin_sink_type_known(s.type)) {
                sink = make_builtin_sink(s, sctx);
            } else {
                const LoadedModule *m = find_module(loaded_, s.type, TRIB_KIND_SINK);
                auto inst = std::make_unique<ModuleInstance>(services_, *m, s.name, s.table,
                                                             std::vector<std::pair<std::string, std::string>>{}, false);
                std::string err;
                if (!inst->create(err) || !inst->start(err)) {
                    start_failed("sink", s.name, m->file + ": " + err, s.optional);
                    continue;
                }
                sink = wrap_in_relabel(wrap_in_spool(std::make_unique<ModuleSink>(s.name, *inst), s, sctx), s);
                sink_modules_.push_back(std::move(inst));
            }
            bus_->add_sink(std::move(sink), s.type, SinkFilter{s.categories, s.measurements});
        } catch (const std::exception &e) {
            start_failed("sink", s.name, e.what(), s.optional);
        }
    }
    bus_->start();

    try {
        http_->start();
    } catch (const std::exception &e) {
        log_error("http", e.what());
        shutdown();
        return 1;
    }
    if (!cfg_.listen.empty())
        log_info("http", "listening on " + cfg_.listen + " (port " + std::to_string(http_->port()) + ")" +
                             (http_->tls_enabled() ? " with TLS" : ""));
    if (!cfg_.http.listen_unix.empty()) log_info("http", "listening on unix socket " + cfg_.http.listen_unix);

    for (auto &ic : inputs_cfg_)
        if (auto inst = start_input(ic)) inputs_.push_back(std::move(inst));

    election_->start([this](bool leader) {
        std::lock_guard<std::mutex> lk(leadership_mu_);
        leadership_events_.push_back(leader);
    });
    // Inputs outside the election always lead.
    for (auto &i : inputs_)
        if (!i->takes_part_in_election()) i->notify_leadership(true);

    {
        std::unique_lock<std::shared_mutex> lk(state_mu_);
        ready_ = true;
    }
    size_t required_failed = 0;
    for (auto &f : start_failures_) required_failed += f.optional ? 0 : 1;
    log_info("host", std::string(required_failed ? "not ready (" + std::to_string(required_failed) +
                                                       " input(s)/sink(s) failed to start, see /health): "
                                                 : "ready: ") +
                         std::to_string(inputs_.size()) + " input instance(s), " +
                         std::to_string(bus_->sinks().size()) + " sink(s)");
    {
        std::lock_guard<std::mutex> lk(reload_mu_);
        reload_accepting_ = true;
        reload_counters_.last_success_unix =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    wait_for_stop();
    stop_serving_reloads();
    log_info("host", "stopping");
    shutdown();
    log_info("host", drained_cleanly_ ? "stopped" : "stopped; some sinks did not drain");
    return drained_cleanly_ ? 0 : 1;
}

void HostApp::wait_for_stop() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        std::deque<bool> events;
        {
            std::lock_guard<std::mutex> lk(leadership_mu_);
            events.swap(leadership_events_);
        }
        for (bool leader : events) {
            log_info("election", leader ? "this host leads" : "this host no longer leads");
            for (auto &i : inputs_)
                if (i->takes_part_in_election()) i->notify_leadership(leader);
        }
        if (stop_requested_) return;
        trim_after_burst();
        serve_reload_requests("POST /-/reload");
        timespec ts{0, 100 * 1000 * 1000};
        int sig = sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGTERM || sig == SIGINT) return;
        if (sig == SIGHUP) reload("SIGHUP");
    }
}

void HostApp::trim_after_burst() {
    // glibc keeps freed memory inside its heaps (only the top of a heap is returned), so
    // after an overload the RSS stayed at its peak (~210 MB) with nothing in flight. Once no
    // body is held and the bus is empty for 2 s, malloc_trim returns the free pages; it
    // walks every heap, so it waits for a quiet moment and runs once per burst.
    const auto now = std::chrono::steady_clock::now();
    if ((memory_ && memory_->used() > 0) || (bus_ && bus_->memory().used() > 0)) {
        last_busy_ = now;
        burst_to_trim_ = true;
        return;
    }
    if (!burst_to_trim_ || now - last_busy_ < std::chrono::seconds(2)) return;
    burst_to_trim_ = false;
    if (mallinfo2().fordblks > (size_t(8) << 20)) malloc_trim(0);
}

std::unique_ptr<ModuleInstance> HostApp::start_input(const InputConfig &ic) {
    const LoadedModule *m = find_module(loaded_, ic.module, TRIB_KIND_INPUT);
    if (!ic.disabled_reason.empty()) {
        start_failed("input", ic.module + "/" + ic.instance,
                     "stays off, the rest of the host runs (" + ic.source + "): " + ic.disabled_reason, ic.optional);
        return nullptr;
    }
    // [election] whitelist names hosts (DataKit's node_whitelist), applied by the backend.
    auto inst = std::make_unique<ModuleInstance>(services_, *m, ic.instance, ic.table, ic.tags, ic.election);
    inst->set_access(ic.access);
    std::string err;
    if (!inst->create(err)) {
        start_failed("input", inst->id(), m->file + ": create failed (" + ic.source + "): " + err, ic.optional);
        return nullptr;
    }
    if (!inst->start(err)) {
        start_failed("input", inst->id(), m->file + ": start failed (" + ic.source + "): " + err, ic.optional);
        inst->stop_and_destroy();
        return nullptr;
    }
    log_info(inst->id(), "started (" + m->file + ")");
    return inst;
}

namespace {

json string_array(const std::vector<std::string> &v) {
    json a = json::array();
    for (auto &s : v) a.push_back(s);
    return a;
}

} // namespace

BuiltinResponse HostApp::reload(const std::string &trigger) {
    log_info("reload", "re-reading the configuration (" + trigger + ")");
    std::vector<std::string> errors, warnings;
    HostConfig next = load_host_config(cli_, env_, default_plugins_dir_, errors);
    std::vector<InputModuleInfo> input_modules;
    for (auto &m : loaded_.modules)
        if (m.kind == TRIB_KIND_INPUT) input_modules.push_back({m.name, m.sample_config});
    std::vector<InputConfig> next_inputs = load_input_configs(next, input_modules, env_, errors, warnings);
    check_host_config(next, errors);

    std::set<std::string> running_ids;
    {
        std::shared_lock<std::shared_mutex> lk(state_mu_);
        for (auto &i : inputs_) running_ids.insert(i->id());
    }
    InputReloadPlan plan;
    if (errors.empty()) {
        plan = plan_input_reload(inputs_cfg_, next_inputs,
                                 [&](const std::string &id) { return running_ids.count(id) != 0; });
        std::vector<InputConfig> to_check;
        for (auto *ic : plan.start) to_check.push_back(*ic);
        // Sinks are not swapped by a reload, but a table that would not start after a
        // restart is refused now rather than then.
        std::vector<SinkConfig> sinks_to_check;
        for (auto &s : next.sinks) {
            auto same = std::find_if(cfg_.sinks.begin(), cfg_.sinks.end(),
                                     [&](const SinkConfig &r) { return r.name == s.name && r.table == s.table; });
            if (same == cfg_.sinks.end()) sinks_to_check.push_back(s);
        }
        validate_instances(sinks_to_check, to_check, errors);
    }
    for (auto &w : warnings) log_warn("reload", w);
    if (!errors.empty()) {
        for (auto &e : errors) log_error("reload", "refused: " + e);
        log_error("reload", "configuration refused (" + std::to_string(errors.size()) +
                                " error(s)); the running configuration stays in force");
        {
            std::lock_guard<std::mutex> lk(reload_mu_);
            reload_counters_.attempts++;
            reload_counters_.failures++;
            reload_counters_.last_ok = false;
        }
        json body = {{"status", "refused"}, {"errors", string_array(errors)}};
        return BuiltinResponse{400, "application/json", body.dump() + "\n"};
    }

    // Stopped first (routes removed, handlers finished, the module's stop() returned), so a
    // restarted instance can take its routes again.
    std::vector<std::unique_ptr<ModuleInstance>> retiring;
    {
        std::unique_lock<std::shared_mutex> lk(state_mu_);
        std::set<std::string> stop(plan.stop.begin(), plan.stop.end());
        std::set<std::string> forget(plan.restarted.begin(), plan.restarted.end());
        forget.insert(plan.removed.begin(), plan.removed.end());
        for (auto it = inputs_.begin(); it != inputs_.end();) {
            if (stop.count((*it)->id())) {
                retiring.push_back(std::move(*it));
                it = inputs_.erase(it);
            } else {
                ++it;
            }
        }
        start_failures_.erase(
            std::remove_if(start_failures_.begin(), start_failures_.end(),
                           [&](const StartFailure &f) { return f.kind == "input" && forget.count(f.name); }),
            start_failures_.end());
    }
    for (auto &inst : retiring) {
        inst->stop_and_destroy();
        log_info(inst->id(), "stopped (reload)");
    }
    retiring.clear();
    std::vector<std::string> failed;
    for (auto *ic : plan.start) {
        auto inst = start_input(*ic);
        if (!inst) {
            failed.push_back(input_id(*ic));
            continue;
        }
        bool leads = !inst->takes_part_in_election() || election_->is_leader();
        if (leads) inst->notify_leadership(true);
        std::unique_lock<std::shared_mutex> lk(state_mu_);
        inputs_.push_back(std::move(inst));
    }
    inputs_cfg_ = std::move(next_inputs);
    if (next.log_level != cfg_.log_level) {
        cfg_.log_level = next.log_level;
        set_log_level(log_level_from_name(cfg_.log_level, TRIB_LOG_INFO));
    }
    auto needs_restart = changes_needing_restart(cfg_, next);
    for (auto &key : needs_restart)
        log_warn("reload", key + " changed: not applied by a reload; the running value stays until the host restarts");
    // Certificates are re-read on every reload (renewed files under the same names); open
    // connections keep the context they started with, the listener stays open.
    if (http_ && cfg_.http.tls.enabled() && next.http.tls.enabled()) {
        std::string err;
        if (http_->reload_tls(next.http.tls, err)) {
            cfg_.http.tls = next.http.tls;
            log_info("reload", "listener certificates re-read");
        } else {
            log_error("reload", "listener certificates not re-read, the running ones stay: " + err);
        }
    }

    log_info("reload",
             "applied: " + std::to_string(plan.added.size()) + " input(s) added, " +
                 std::to_string(plan.restarted.size()) + " restarted, " + std::to_string(plan.removed.size()) +
                 " removed, " + std::to_string(plan.unchanged) + " unchanged" +
                 (failed.empty() ? std::string() : ", " + std::to_string(failed.size()) + " failed to start"));
    {
        std::lock_guard<std::mutex> lk(reload_mu_);
        reload_counters_.attempts++;
        reload_counters_.last_ok = true;
        reload_counters_.last_success_unix =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    json body = {{"status", "applied"},
                 {"added", string_array(plan.added)},
                 {"restarted", string_array(plan.restarted)},
                 {"removed", string_array(plan.removed)},
                 {"unchanged", plan.unchanged},
                 {"failed_to_start", string_array(failed)},
                 {"needs_restart", string_array(needs_restart)},
                 {"warnings", string_array(warnings)}};
    return BuiltinResponse{200, "application/json", body.dump() + "\n"};
}

BuiltinResponse HostApp::reload_route(const std::string &method) {
    if (method != "POST") return BuiltinResponse{405, "text/plain; charset=utf-8", "use POST\n"};
    auto request = std::make_shared<PendingReload>();
    std::unique_lock<std::mutex> lk(reload_mu_);
    if (!reload_accepting_)
        return BuiltinResponse{503, "text/plain; charset=utf-8", "the host is starting or stopping; no reload now\n"};
    reload_requests_.push_back(request);
    // A reload stops and starts instances: bounded by their stop(), normally well under this.
    if (!reload_cv_.wait_for(lk, std::chrono::minutes(2), [&] { return request->done; }))
        return BuiltinResponse{503, "text/plain; charset=utf-8", "the reload is still running; see the host's log\n"};
    return request->answer;
}

void HostApp::serve_reload_requests(const std::string &trigger) {
    std::deque<std::shared_ptr<PendingReload>> requests;
    {
        std::lock_guard<std::mutex> lk(reload_mu_);
        requests.swap(reload_requests_);
    }
    if (requests.empty()) return;
    // Every request queued before the files are read is answered by this one reload.
    BuiltinResponse answer = reload(trigger);
    std::lock_guard<std::mutex> lk(reload_mu_);
    for (auto &r : requests) {
        r->answer = answer;
        r->done = true;
    }
    reload_cv_.notify_all();
}

void HostApp::stop_serving_reloads() {
    std::lock_guard<std::mutex> lk(reload_mu_);
    reload_accepting_ = false;
    for (auto &r : reload_requests_) {
        r->answer = BuiltinResponse{503, "text/plain; charset=utf-8", "the host is stopping; no reload\n"};
        r->done = true;
    }
    reload_requests_.clear();
    reload_cv_.notify_all();
}

void HostApp::shutdown() {
    {
        std::unique_lock<std::shared_mutex> lk(state_mu_);
        ready_ = false;
    }
    // Inputs first (each: routes removed, timers stopped, stop(), destroy()), newest first.
    for (auto it = inputs_.rbegin(); it != inputs_.rend(); ++it) (*it)->stop_and_destroy();
    if (election_) election_->stop();
    if (bus_) drained_cleanly_ = bus_->shutdown() && drained_cleanly_;
    if (!drained_cleanly_) return; // a sink thread is stuck in write(): main exits without unwinding
    for (auto it = sink_modules_.rbegin(); it != sink_modules_.rend(); ++it) (*it)->stop_and_destroy();
    if (http_) http_->stop();
    if (timers_) timers_->shutdown();
    if (attachments_) attachments_->stop();
    inputs_.clear();
    bus_.reset();
    sink_modules_.clear();
    http_.reset();
}

std::string HostApp::health_json(bool &ready) {
    ready = ready_.load();
    json failed = json::array();
    if (ready)
        for (auto &f : start_failures_) {
            failed.push_back({{"kind", f.kind}, {"name", f.name}, {"reason", f.reason}, {"optional", f.optional}});
            if (!f.optional) ready = false;
        }
    json inputs = json::array();
    if (ready_)
        for (auto &i : inputs_) {
            std::string reason = i->health();
            inputs.push_back({{"module", i->module().name},
                              {"instance", i->instance_name()},
                              {"running", i->running()},
                              {"healthy", reason.empty()},
                              {"reason", reason}});
        }
    json sinks = json::array();
    if (bus_)
        for (auto &s : bus_->sinks())
            sinks.push_back({{"name", s->name()}, {"type", s->type()}, {"queue_points", s->queue_points()}});
    json j = {{"live", true},
              {"ready", ready},
              {"role", election_ ? election_->role() : "none"},
              {"election", election_ ? election_->backend() : "none"},
              {"version", host_version()},
              {"inputs", inputs},
              {"sinks", sinks},
              {"failed", failed}};
    if (bus_) j["bus"] = {{"memory_bytes", bus_->memory().used()}, {"memory_limit_bytes", bus_->memory().limit()}};
    return j.dump();
}

std::optional<BuiltinResponse> HostApp::builtin_route(const std::string &method, const std::string &path) {
    // Outside state_mu_: the reload it waits for takes that lock.
    if (path == "/-/reload") return reload_route(method);
    if (path != "/health" && path != "/metrics") return std::nullopt;
    std::shared_lock<std::shared_mutex> lk(state_mu_);
    if (method != "GET" && method != "HEAD") return BuiltinResponse{405, "text/plain; charset=utf-8", "use GET\n"};
    if (path == "/health") {
        bool ready = false;
        std::string body = health_json(ready);
        return BuiltinResponse{ready ? 200 : 503, "application/json", body};
    }
    static const std::vector<std::unique_ptr<ModuleInstance>> none;
    ReloadCounters reloads;
    {
        std::lock_guard<std::mutex> rl(reload_mu_);
        reloads = reload_counters_;
    }
    return BuiltinResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                           bus_ ? render_metrics(ready_ ? inputs_ : none, ready_ ? sink_modules_ : none, *bus_, *http_,
                                                 election_.get(), &loaded_.modules) +
                                      render_reload_metrics(reloads) +
                                      (attachments_ ? render_attachment_store_metrics(*attachments_) : std::string())
                                : std::string()};
}

} // namespace trib::core
