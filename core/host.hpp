// The host application: config → modules → sinks and bus → HTTP listener → inputs →
// election; then waits for SIGTERM/SIGINT and shuts down in reverse (inputs' routes first,
// then inputs, then the bus drains into the sinks, which flush).
#pragma once

#include "bus.hpp"
#include "cli.hpp"
#include "config.hpp"
#include "election.hpp"
#include "http_server.hpp"
#include "instance.hpp"
#include "loader.hpp"
#include "timer_service.hpp"

#include <atomic>
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
    // What start would refuse beyond the config text: each sink built, each module instance
    // created and destroyed (the module validates its own table), in a throwaway data dir.
    void validate_instances(std::vector<std::string> &errors);
    // Records an input or sink that did not start; unless optional, /health is not ready.
    void start_failed(const std::string &kind, const std::string &name, const std::string &reason, bool optional);
    int list_plugins();
    int check_config();
    int serve();
    void shutdown();
    std::optional<BuiltinResponse> builtin_route(const std::string &method, const std::string &path);
    std::string health_json(bool &ready);
    void wait_for_stop();

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
};

// The version string printed by --version and shown on /health.
const char *host_version();

} // namespace trib::core
