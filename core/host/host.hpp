// The host application: config → modules → sinks and bus → HTTP listener → inputs →
// election; then waits for SIGTERM/SIGINT and shuts down in reverse (inputs' routes first,
// then inputs, then the bus drains into the sinks, which flush). SIGHUP and POST /-/reload
// re-read the configuration on the control thread (see reload.hpp for what is applied).
#pragma once

#include "bus/bus.hpp"
#include "config/cli.hpp"
#include "config/config.hpp"
#include "config/reload.hpp"
#include "election/election.hpp"
#include "host/instance.hpp"
#include "host/loader.hpp"
#include "host/timer_service.hpp"
#include "net/http_server.hpp"
#include "store/attachment_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace trib::core {

class HostApp {
  public:
    HostApp(CliOptions cli, Env env, std::string default_plugins_dir);
    ~HostApp();

    // --list-plugins, --check-config or the normal run; returns the exit code. In the
    // normal run, returns after a stop signal (see request_stop) and the shutdown.
    int run();
    // Async-signal-safe flag the main loop polls (main also uses sigtimedwait).
    void request_stop() { stop_requested_ = true; }
    bool drained_cleanly() const { return drained_cleanly_; }

  private:
    bool prepare(std::vector<std::string> &errors, std::vector<std::string> &warnings);
    // Checks beyond the parser's: sink types and election backends known, listen resolvable.
    void check_host_config(const HostConfig &cfg, std::vector<std::string> &errors);
    // What start would refuse beyond the config text: each sink built, each module instance
    // created and destroyed (the module validates its own table), in a throwaway data dir.
    void validate_instances(const std::vector<SinkConfig> &sinks, const std::vector<InputConfig> &inputs,
                            std::vector<std::string> &errors);
    // Creates and starts one input; null after recording the failure (start_failed).
    std::unique_ptr<ModuleInstance> start_input(const InputConfig &ic);
    // Re-reads the config files and applies the inputs' changes; refuses the whole new
    // config when it has errors. Control thread only. The answer is also POST /-/reload's.
    BuiltinResponse reload(const std::string &trigger);
    // POST /-/reload: hands the request to the control thread and waits for its answer.
    BuiltinResponse reload_route(const std::string &method);
    // Control thread: runs one reload for every request queued so far.
    void serve_reload_requests(const std::string &trigger);
    void stop_serving_reloads();
    // Records an input or sink that did not start; unless optional, /health is not ready.
    void start_failed(const std::string &kind, const std::string &name, const std::string &reason, bool optional);
    int list_plugins();
    int check_config();
    int serve();
    void shutdown();
    std::optional<BuiltinResponse> builtin_route(const std::string &method, const std::string &path);
    std::string health_json(bool &ready);
    void wait_for_stop();
    // Control thread: hands malloc's freed pages back to the kernel once a burst is over.
    void trim_after_burst();
    std::chrono::steady_clock::time_point last_busy_{};
    bool burst_to_trim_ = false;

    CliOptions cli_;
    Env env_;
    std::string default_plugins_dir_;
    HostConfig cfg_;
    LoadResult loaded_;
    std::vector<InputConfig> inputs_cfg_;

    HostServices services_;
    std::unique_ptr<TimerService> timers_;
    std::unique_ptr<Bus> bus_;
    std::unique_ptr<MemoryBudget> memory_;
    std::unique_ptr<HttpServer> http_;
    std::unique_ptr<AttachmentStore> attachments_;
    std::unique_ptr<Election> election_;
    std::vector<std::unique_ptr<ModuleInstance>> inputs_;
    std::vector<std::unique_ptr<ModuleInstance>> sink_modules_;
    // Guards ready_ against /health and /metrics readers while instances come and go.
    std::shared_mutex state_mu_;
    std::atomic<bool> ready_{false};
    struct StartFailure {
        std::string kind, name, reason;
        bool optional;
    };
    std::vector<StartFailure> start_failures_; // written before ready_, read after
    std::atomic<bool> stop_requested_{false};
    bool drained_cleanly_ = true;

    std::mutex leadership_mu_;
    std::deque<bool> leadership_events_;

    struct PendingReload {
        bool done = false;
        BuiltinResponse answer;
    };
    std::mutex reload_mu_; // guards the fields below
    std::condition_variable reload_cv_;
    std::deque<std::shared_ptr<PendingReload>> reload_requests_;
    bool reload_accepting_ = false; // between ready and shutdown
    ReloadCounters reload_counters_;
};

// The version string printed by --version and shown on /health.
const char *host_version();

} // namespace trib::core
