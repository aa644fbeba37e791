#include "etcd_backend.hpp"

#include "election/etcd_election.hpp"
#include "host/log.hpp"

#include <stdexcept>

namespace trib::core {

namespace {

EtcdElectionOptions options_from(const ElectionConfig &config) {
    EtcdElectionOptions options;
    options.endpoints = config.endpoints;
    options.name_space = config.ns;
    options.lease_ttl = std::chrono::seconds(config.lease_ttl_s); // config parsed "5s"
    options.whitelist = config.whitelist;
    options.host_name = config.host_id;
    // [election] tls_ca / tls_cert / tls_key / insecure_skip_verify for https endpoints,
    // username / password for etcd auth.
    options.tls = read_upstream_tls(config.table, "[election]");
    auto text_key = [&](const char *key) {
        auto it = config.table.find(key);
        if (it == config.table.end() || it->is_null()) return std::string();
        if (!it->is_string())
            throw std::invalid_argument(std::string("[election] key '") + key + "': expected a string");
        return it->get<std::string>();
    };
    options.username = text_key("username");
    options.password = text_key("password");
    if (options.tls.insecure_skip_verify)
        log_warn("election", insecure_skip_verify_warning("the etcd election client"));
    options.log = [](const std::string &level, const std::string &message) {
        const trib_log_level mapped = level == "error"  ? TRIB_LOG_ERROR
                                      : level == "warn" ? TRIB_LOG_WARN
                                      : level == "info" ? TRIB_LOG_INFO
                                                        : TRIB_LOG_DEBUG;
        log_message(mapped, "election", message);
    };
    return options;
}

} // namespace

std::unique_ptr<Election> make_etcd_election(const ElectionConfig &config) {
    try {
        return std::make_unique<EtcdElection>(options_from(config));
    } catch (const std::invalid_argument &e) {
        throw std::runtime_error(e.what()); // the factory's callers report runtime_errors
    }
}

} // namespace trib::core
