// Hot reload (SIGHUP, POST /-/reload): what changed between the running configuration and
// the one just read. Inputs are matched by module and instance number ("profile/0"); an
// instance whose table, tags, `election` or `optional` changed is restarted, new ones are
// started, missing ones stopped. Everything else that changed is listed by key, because
// it only takes effect after a restart of the host (the listener, sinks, bus, election).
#pragma once

#include "config/config.hpp"

#include <functional>
#include <string>
#include <vector>

namespace trib::core {

// "<module>/<instance>", the id ModuleInstance uses as route owner and log source.
std::string input_id(const InputConfig &ic);

struct InputReloadPlan {
    std::vector<const InputConfig *> start;             // new, changed or not running: (re)started from `next`
    std::vector<std::string> stop;                      // ids of running instances to stop (removed or changed)
    std::vector<std::string> added, restarted, removed; // ids, for the log and the answer
    size_t unchanged = 0;
};

// is_running(id): whether that instance runs now (one that failed to start is retried).
InputReloadPlan plan_input_reload(const std::vector<InputConfig> &running, const std::vector<InputConfig> &next,
                                  const std::function<bool(const std::string &id)> &is_running);

// Keys whose change a reload does not apply ("[[sinks]] 'file'", "[http]", "listen", ...),
// compared by value; secrets never appear, only key names.
std::vector<std::string> changes_needing_restart(const HostConfig &running, const HostConfig &next);

// Config reload counters for /metrics.
struct ReloadCounters {
    uint64_t attempts = 0;        // tributary_config_reload_total
    uint64_t failures = 0;        // tributary_config_reload_failures_total
    bool last_ok = true;          // tributary_config_last_reload_successful
    double last_success_unix = 0; // tributary_config_last_reload_success_timestamp_seconds
};
std::string render_reload_metrics(const ReloadCounters &c);

} // namespace trib::core
