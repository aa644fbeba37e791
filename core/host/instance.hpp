// One module instance: the host table it sees (emit, log, tags, routes, timers, counters,
// data dir) and its lifecycle. Owns its routes, timers and counters; the host removes the
// routes and timers before stop().
#pragma once

#include "bus/bus.hpp"
#include "bus/memory_budget.hpp"
#include "host/loader.hpp"
#include "host/timer_service.hpp"
#include "net/http_server.hpp"
#include "spool/input_spool.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

struct trib_host_ctx;

namespace trib::core {

class AttachmentStore;

// What every instance shares with the host. Pointers outlive all instances.
struct HostServices {
    Bus *bus = nullptr;
    HttpServer *http = nullptr; // may be null (check-config, unit tests)
    TimerService *timers = nullptr;
    std::function<bool()> is_leader;
    std::vector<std::pair<std::string, std::string>> global_tags;
    std::string data_dir;           // the host's --data-dir
    MemoryBudget *memory = nullptr; // null: memory_reserve always succeeds (check-config, unit tests)
    // Where emitted attachments are written before their point goes on (null: they ride
    // with the point, as when no file sink is configured).
    AttachmentStore *attachments = nullptr;
};

struct InstanceStats {
    std::atomic<uint64_t> received_points{0}; // offered through emit
    std::atomic<uint64_t> emitted_points{0};  // accepted by the bus
    std::atomic<uint64_t> dropped_points{0};  // refused (backpressure or invalid)
    std::atomic<uint64_t> backpressure{0};    // emit calls answered BACKPRESSURE
    std::atomic<uint64_t> emitted_bytes{0};
};

class ModuleInstance {
  public:
    ModuleInstance(HostServices &services, const LoadedModule &module, std::string instance_name, nlohmann::json config,
                   std::vector<std::pair<std::string, std::string>> tags, bool election);
    ~ModuleInstance();
    ModuleInstance(const ModuleInstance &) = delete;
    ModuleInstance &operator=(const ModuleInstance &) = delete;

    // Lifecycle (control thread). create/start: false with `err` on failure.
    bool create(std::string &err);
    bool start(std::string &err);
    // Removes routes, stops timers, then the module's stop(); then destroy().
    void stop_and_destroy();
    void notify_leadership(bool leader);
    // Empty = healthy (or no health hook); otherwise the module's reason.
    std::string health();

    // Who may call this instance's routes (auth_tokens, allow_cidrs); set before create().
    void set_access(std::shared_ptr<const AccessPolicy> access) { access_ = std::move(access); }

    const LoadedModule &module() const { return module_; }
    const std::string &instance_name() const { return name_; }
    std::string id() const { return module_.name + "/" + name_; } // route owner, log source
    bool running() const { return started_; }
    bool takes_part_in_election() const { return election_; }
    void *handle() const { return instance_; }
    const InstanceStats &stats() const { return stats_; }
    std::map<std::string, double> counters() const;

    // The host table's implementation.
    trib_status emit(const trib_batch *batch);
    void log(trib_log_level level, std::string_view msg);
    void visit_global_tags(trib_tag_visit_fn visit, void *user);
    bool is_leader();
    trib_status route_add(const trib_http_route *route, char *err, size_t cap);
    uint64_t timer_start(uint64_t period_ms, trib_timer_fn fn, void *user);
    void timer_stop(uint64_t id);
    void counter_add(std::string_view name, double delta);
    trib_str data_dir_view() const { return trib_str{state_dir_.data(), state_dir_.size()}; }
    trib_status memory_reserve(uint64_t bytes);
    void memory_release(uint64_t bytes);

    static const trib_host_api_t *host_api();

  private:
    HostServices &services_;
    const LoadedModule &module_;
    std::string name_;
    std::shared_ptr<const AccessPolicy> access_;
    std::string config_json_;
    std::vector<std::pair<std::string, std::string>> tags_;
    bool election_;
    std::string state_dir_;
    std::unique_ptr<trib_host_ctx> ctx_;
    void *instance_ = nullptr;
    bool started_ = false;
    InstanceStats stats_;
    mutable std::mutex mu_;
    std::map<std::string, double> counters_;
    std::set<uint64_t> timers_;
    // The instance's disk spool (io_config), when configured: emit appends to it
    // and its workers feed the bus. Lives until the instance is destroyed, after the bus
    // drained, so releases during the drain still retire records.
    std::unique_ptr<InputSpool> spool_;
};

} // namespace trib::core
