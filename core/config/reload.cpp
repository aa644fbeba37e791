#include "reload.hpp"

#include <fmt/format.h>

#include <map>

namespace trib::core {

std::string input_id(const InputConfig &ic) { return ic.module + "/" + ic.instance; }

namespace {

// Tokens leave the table the module sees (allow_cidrs stays in it), so they are compared here.
std::vector<std::string> tokens_of(const std::shared_ptr<const AccessPolicy> &p) {
    return p ? p->tokens : std::vector<std::string>{};
}

bool same_instance_config(const InputConfig &a, const InputConfig &b) {
    return a.table == b.table && a.tags == b.tags && a.election == b.election && a.optional == b.optional &&
           tokens_of(a.access) == tokens_of(b.access) && a.disabled_reason == b.disabled_reason;
}

// TLS files are re-read by every reload; switching TLS on or off, the Unix socket and the
// admin tokens take a restart.
bool same_http(const HttpListenerConfig &a, const HttpListenerConfig &b) {
    return a.max_body_bytes == b.max_body_bytes && a.max_connections == b.max_connections &&
           a.header_timeout == b.header_timeout && a.idle_timeout == b.idle_timeout &&
           a.read_timeout == b.read_timeout && a.max_active_handlers == b.max_active_handlers &&
           a.tls.enabled() == b.tls.enabled() && a.tls.client_ca == b.tls.client_ca &&
           a.tls.min_version == b.tls.min_version && a.listen_unix == b.listen_unix &&
           a.listen_unix_mode == b.listen_unix_mode && a.listen_unix_group == b.listen_unix_group &&
           tokens_of(a.admin) == tokens_of(b.admin);
}

bool same_bus(const BusConfig &a, const BusConfig &b) {
    return a.max_memory_bytes == b.max_memory_bytes && a.shutdown_timeout == b.shutdown_timeout &&
           a.retry_initial == b.retry_initial && a.retry_max == b.retry_max;
}

bool same_election(const ElectionConfig &a, const ElectionConfig &b) {
    return a.enable == b.enable && a.backend == b.backend && a.endpoints == b.endpoints && a.ns == b.ns &&
           a.lease_ttl_s == b.lease_ttl_s && a.whitelist == b.whitelist && a.host_id == b.host_id && a.table == b.table;
}

} // namespace

InputReloadPlan plan_input_reload(const std::vector<InputConfig> &running, const std::vector<InputConfig> &next,
                                  const std::function<bool(const std::string &id)> &is_running) {
    InputReloadPlan plan;
    std::map<std::string, const InputConfig *> old_by_id, new_by_id;
    for (auto &ic : running) old_by_id[input_id(ic)] = &ic;
    for (auto &ic : next) new_by_id[input_id(ic)] = &ic;
    for (auto &[id, old] : old_by_id) {
        auto it = new_by_id.find(id);
        bool runs = is_running(id);
        if (it == new_by_id.end()) {
            if (runs) plan.stop.push_back(id);
            plan.removed.push_back(id);
        } else if (!same_instance_config(*old, *it->second) || !runs) {
            if (runs) plan.stop.push_back(id);
            plan.start.push_back(it->second);
            plan.restarted.push_back(id);
        } else {
            plan.unchanged++;
        }
    }
    for (auto &ic : next) {
        if (old_by_id.count(input_id(ic))) continue;
        plan.start.push_back(&ic);
        plan.added.push_back(input_id(ic));
    }
    return plan;
}

std::vector<std::string> changes_needing_restart(const HostConfig &running, const HostConfig &next) {
    std::vector<std::string> out;
    if (running.listen != next.listen) out.push_back("listen");
    if (running.data_dir != next.data_dir) out.push_back("data_dir");
    if (running.plugins_dir != next.plugins_dir) out.push_back("plugins_dir");
    if (!same_http(running.http, next.http)) out.push_back("[http]");
    if (running.inflight_memory_bytes != next.inflight_memory_bytes) out.push_back("[limits]");
    if (running.global_tags != next.global_tags) out.push_back("[global_tags]");
    if (!same_bus(running.bus, next.bus)) out.push_back("[bus]");
    if (!same_election(running.election, next.election)) out.push_back("[election]");
    std::map<std::string, const SinkConfig *> old_sinks;
    for (auto &s : running.sinks) old_sinks[s.name] = &s;
    for (auto &s : next.sinks) {
        auto it = old_sinks.find(s.name);
        if (it == old_sinks.end()) out.push_back("[[sinks]] '" + s.name + "' (added)");
        else {
            if (it->second->table != s.table || it->second->optional != s.optional)
                out.push_back("[[sinks]] '" + s.name + "' (changed)");
            old_sinks.erase(it);
        }
    }
    for (auto &[name, s] : old_sinks) out.push_back("[[sinks]] '" + name + "' (removed)");
    return out;
}

std::string render_reload_metrics(const ReloadCounters &c) {
    return fmt::format(
        "# HELP tributary_config_reload_total Configuration reloads attempted (SIGHUP, POST /-/reload).\n"
        "# TYPE tributary_config_reload_total counter\n"
        "tributary_config_reload_total {}\n"
        "# HELP tributary_config_reload_failures_total Reloads refused because the new configuration had errors.\n"
        "# TYPE tributary_config_reload_failures_total counter\n"
        "tributary_config_reload_failures_total {}\n"
        "# HELP tributary_config_last_reload_successful 1 when the last reload was applied (or none was tried).\n"
        "# TYPE tributary_config_last_reload_successful gauge\n"
        "tributary_config_last_reload_successful {}\n"
        "# HELP tributary_config_last_reload_success_timestamp_seconds When the configuration was last loaded.\n"
        "# TYPE tributary_config_last_reload_success_timestamp_seconds gauge\n"
        "tributary_config_last_reload_success_timestamp_seconds {:.3f}\n",
        c.attempts, c.failures, c.last_ok ? 1 : 0, c.last_success_unix);
}

} // namespace trib::core
