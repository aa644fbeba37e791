// Registers election backend "etcd" with the host's factory (core/election_factory.hpp):
// [election] endpoints, namespace, lease_ttl and whitelist become EtcdElectionOptions.
#include "etcd_election.hpp"

#include "../election_factory.hpp"
#include "../log.hpp"

#include <cctype>
#include <stdexcept>

namespace trib::core {

namespace {

// Go-style duration text ("5s", "1500ms", "1m30s"); a bare number counts seconds.
std::chrono::milliseconds parse_lease_ttl(const std::string& text) {
    if (text.empty()) throw std::invalid_argument("[election] lease_ttl: empty duration");
    double total_ms = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t used = 0;
        double value = 0;
        try {
            value = std::stod(text.substr(at), &used);
        } catch (const std::exception&) {
            throw std::invalid_argument("[election] lease_ttl: '" + text +
                                        "' is not a duration such as \"5s\"");
        }
        if (value < 0)
            throw std::invalid_argument("[election] lease_ttl: '" + text + "' is negative");
        at += used;
        std::size_t unit_end = at;
        while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end])))
            ++unit_end;
        const std::string unit = text.substr(at, unit_end - at);
        double scale;
        if (unit.empty() && at == text.size() && used == text.size()) scale = 1000; // "5"
        else if (unit == "ms") scale = 1;
        else if (unit == "s") scale = 1000;
        else if (unit == "m") scale = 60'000;
        else if (unit == "h") scale = 3'600'000;
        else
            throw std::invalid_argument("[election] lease_ttl: '" + text +
                                        "': unknown unit '" + unit + "' (ms, s, m, h)");
        total_ms += value * scale;
        at = unit_end;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

EtcdElectionOptions options_from(const ElectionConfig& config) {
    EtcdElectionOptions options;
    options.endpoints = config.endpoints;
    options.name_space = config.ns;
    options.lease_ttl = std::chrono::seconds(config.lease_ttl_s);
    if (auto it = config.table.find("lease_ttl"); it != config.table.end() && it->is_string())
        options.lease_ttl = parse_lease_ttl(it->get<std::string>());
    options.whitelist = config.whitelist;
    options.host_name = config.host_id;
    options.log = [](const std::string& level, const std::string& message) {
        const trib_log_level mapped = level == "error"  ? TRIB_LOG_ERROR
                                      : level == "warn" ? TRIB_LOG_WARN
                                      : level == "info" ? TRIB_LOG_INFO
                                                        : TRIB_LOG_DEBUG;
        log_message(mapped, "election", message);
    };
    return options;
}

const ElectionBackendRegistrar etcd_backend("etcd", [](const ElectionConfig& config) {
    try {
        return std::unique_ptr<Election>(std::make_unique<EtcdElection>(options_from(config)));
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what()); // the factory's callers report runtime_errors
    }
});

} // namespace

} // namespace trib::core
